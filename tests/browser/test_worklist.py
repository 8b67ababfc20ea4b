"""Working the follow-up call list in a real browser, by keyboard."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers.live import sign_in, snap
from tests.browser.helpers.worklist import seed_calls

pytestmark = pytest.mark.browser


def call_row(page, name: str):
    return page.get_by_role("row").filter(has_text=name)


def test_front_desk_records_a_phone_score_by_keyboard_and_the_call_leaves_the_list(
    page, live_server
):
    seed_calls(
        live_server,
        [
            ("Rosa", "Quintero", "555-013-7788", 7),  # the window's last day
            ("Tomás", "Ibarra", "555-014-2201", 2),
            ("Grace", "Nakamura", "555-019-4410", 0),
            ("Omar", "Haddad", "555-011-9035", -5),  # coming up in 5 days
        ],
    )
    sign_in(page, live_server, "front_desk")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Call list").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Follow-up calls")
    overdue = page.locator("#overdue")
    expect(overdue.get_by_role("heading", level=2)).to_contain_text("Overdue")
    rosa = call_row(page, "Quintero, Rosa")
    expect(rosa).to_contain_text("7 days overdue")
    expect(rosa).to_contain_text("last day to call")
    expect(rosa).to_contain_text("555-013-7788")
    expect(page.locator("#due-today")).to_contain_text("Nakamura, Grace")
    upcoming = page.locator("#coming-up")
    expect(upcoming).to_contain_text("Haddad, Omar")
    expect(upcoming.locator('input[name="nrs"]')).to_have_count(0)
    snap(page, "worklist")

    # The most overdue call's NRS box has the focus on arrival: type the score, press Enter.
    # (Other tests share this server's database, so the first call may be someone else's.)
    expect(page.locator('input[name="nrs"]').first).to_be_focused()
    nrs = page.get_by_label("NRS 0–10 for Rosa Quintero")
    nrs.focus()
    page.keyboard.type("3")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Saved for Rosa Quintero")
    expect(page.get_by_role("status")).to_contain_text("NRS 3. 6-week call done.")
    expect(call_row(page, "Quintero, Rosa")).to_have_count(0)
    # The next call is ready for the next score.
    expect(page.locator('input[name="nrs"]').first).to_be_focused()
    snap(page, "worklist-saved")

    # A score out of range is refused with what to fix, and kept in the box to correct.
    page.get_by_label("NRS 0–10 for Tomás Ibarra").focus()
    page.keyboard.type("11")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Nothing was saved for Tomás Ibarra")
    tomas_nrs = page.get_by_label("NRS 0–10 for Tomás Ibarra")
    expect(tomas_nrs).to_have_value("11")
    expect(tomas_nrs).to_be_focused()
    snap(page, "worklist-refused")
    tomas_nrs.fill("2")
    page.keyboard.press("Tab")
    page.keyboard.type("70")
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Saved for Tomás Ibarra (MRN W")
    expect(page.get_by_role("status")).to_contain_text("NRS 2, 70% relief")


def test_front_desk_marks_a_call_no_answer_and_sees_the_attempt_count_go_up(page, live_server):
    seed_calls(live_server, [("Leilani", "Kahale", "555-016-3321", 1)])
    sign_in(page, live_server, "front_desk")
    page.goto("/worklist")
    row = call_row(page, "Kahale, Leilani")
    expect(row.locator(".call-attempts")).to_have_text("0")
    row.get_by_role("button", name="No answer").click()
    expect(page.get_by_role("status")).to_contain_text(
        re.compile(r"No answer: Leilani Kahale \(MRN W\d+\), 1 attempt so far")
    )
    row = call_row(page, "Kahale, Leilani")
    expect(row.locator(".call-attempts")).to_have_text("1")
    expect(row).to_contain_text("last ")
    row.get_by_role("button", name="No answer").click()
    expect(call_row(page, "Kahale, Leilani").locator(".call-attempts")).to_have_text("2")
    snap(page, "worklist-no-answer")

    # Printed, the list keeps whom to call and leaves room to write the answer.
    page.emulate_media(media="print")
    expect(page.get_by_role("button", name="No answer").first).to_be_hidden()
    expect(page.locator(".call-paper").first).to_be_visible()
    snap(page, "worklist-print")
    page.emulate_media(media="screen")

    call_row(page, "Kahale, Leilani").get_by_role("button", name="Declined").click()
    expect(page.get_by_role("status")).to_contain_text("Declined: Leilani Kahale")
    expect(page.get_by_role("status")).to_contain_text("after 3 attempts. 6-week call closed.")
    expect(call_row(page, "Kahale, Leilani")).to_have_count(0)
