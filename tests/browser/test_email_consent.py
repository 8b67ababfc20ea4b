"""Consent to email contact in a real browser: ticked on the registration form, shown on the
patient's page; the form fits a 360-pixel-wide phone without sideways scrolling."""

import pytest
from playwright.sync_api import expect

from tests.browser.helpers.live import sign_in, snap

pytestmark = pytest.mark.browser


def test_front_desk_records_consent_to_email_contact_and_sees_it_on_the_record(page, live_server):
    sign_in(page, live_server, "front_desk")
    page.goto("/patients/new")
    page.get_by_label("First name").fill("Imogen")
    page.get_by_label("Last name").fill("Consent-Browser")
    page.get_by_label("Date of birth").fill("1970-03-04")
    page.get_by_label("Email", exact=True).fill("imogen@example.org")
    page.get_by_label("Agrees to be emailed the link").check()
    page.get_by_label("Email consent given on").fill("2026-01-15")
    snap(page, "email_consent_form")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_text("Agreed on 2026-01-15")).to_be_visible()
    snap(page, "email_consent_patient_page")


def test_the_consent_fields_fit_a_phone_and_a_missing_address_is_named(page, live_server):
    page.set_viewport_size({"width": 360, "height": 800})
    sign_in(page, live_server, "front_desk")
    page.goto("/patients/new")
    page.get_by_label("First name").fill("Ivo")
    page.get_by_label("Last name").fill("NoAddress-Browser")
    page.get_by_label("Date of birth").fill("1971-03-04")
    page.get_by_label("Agrees to be emailed the link").check()
    page.get_by_role("button", name="Register").click()
    expect(
        page.locator(
            ".invalid-feedback",
            has_text="Enter the email address the patient agreed to be emailed at",
        )
    ).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    snap(page, "email_consent_form_360")
