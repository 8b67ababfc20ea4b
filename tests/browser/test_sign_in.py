"""Signing in and out in a real browser."""

import pytest
from playwright.sync_api import expect

from tests.browser.helpers.live import ROLES, sign_in, snap

pytestmark = pytest.mark.browser

HOME_LINKS = {
    "front_desk": ["Patients", "Referrals", "Schedule", "Call list"],
    "physician": ["Patients", "Schedule", "Call list", "Relief report"],
    "manager": ["Patients", "Relief report", "Exports", "Imports"],
    "admin": ["Patients", "Relief report", "Exports", "Staff"],
}
HIDDEN_LINKS = {
    "front_desk": ["Exports", "Staff", "Relief report"],
    "physician": ["Exports", "Staff"],
    "manager": ["Call list", "Staff"],
    "admin": ["Call list"],
}


@pytest.mark.parametrize("role", ROLES)
def test_each_role_signs_in_sees_its_home_page_and_signs_out(page, live_server, role):
    sign_in(page, live_server, role)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good day")
    navigation = page.get_by_role("navigation", name="Main")
    for label in HOME_LINKS[role]:
        expect(navigation.get_by_role("link", name=label, exact=True)).to_be_visible()
    for label in HIDDEN_LINKS[role]:
        expect(navigation.get_by_role("link", name=label, exact=True)).to_have_count(0)
    snap(page, f"home-{role}")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(f"{live_server.url}/login?next=/")


def test_failed_sign_in_shows_its_message_and_keeps_the_username(page, live_server):
    sign_in(page, live_server, "front_desk", password="not the right password")
    expect(page.get_by_role("alert")).to_contain_text("Unknown username or wrong password.")
    expect(page.get_by_label("Username")).to_have_value("frontdesk")
    snap(page, "login-failed")


def test_sign_in_can_be_done_with_the_keyboard_alone(page, live_server):
    page.goto("/login")
    expect(page.get_by_label("Username")).to_be_focused()  # focus is on it on arrival
    page.keyboard.type("physician")
    page.keyboard.press("Tab")
    page.keyboard.type("amber meadow compass 4471")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Good day")
