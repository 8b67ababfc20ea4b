"""Shared by the tests: moved out of tests.browser.test_front_desk so no test module imports another."""

from playwright.sync_api import expect


def register(page, first: str, last: str, born: str) -> str:
    page.goto("/patients")
    page.get_by_role("link", name="Register a patient").click()
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill(last)
    page.get_by_label("Date of birth").fill(born)
    page.get_by_label("Sex").select_option("female")
    page.get_by_label("Primary condition").select_option("herniated_disc")
    page.get_by_label("Phone").fill("555-010-2020")
    page.get_by_role("button", name="Register").click()
    expect(page.get_by_text(f"Registered {first} {last} with MRN")).to_be_visible()
    return page.get_by_role("heading", level=1).inner_text().split("MRN ")[1].strip()
