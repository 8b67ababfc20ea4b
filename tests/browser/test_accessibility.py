"""WCAG 2.2 AA in a real browser (issue 18): axe-core on every page, the focus ring, reflow, print.

The pages come from the one list in tests/pages.py, filled with records of the demo data
(a live server of this module's own, so every page has something on it: an overdue referral,
calls due, a stimulator, a relief report with figures). Each role signs in once and the same
tab visits every page that role may see, then one more of each record page those pages link to
(another referral, booking or patient, in another state); axe-core (shipped inside
axe-playwright-python, no network) runs with the WCAG 2.0, 2.1 and 2.2 A and AA rules, and any
violation fails the test naming the rule, the page and the element.

What axe-core does not judge is measured here too: the focus ring's contrast and thickness
(1.4.11), pages at phone and tablet widths (1.4.10 reflow), and the printed page.
"""

import re
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from flask_migrate import upgrade
from playwright.sync_api import expect
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from clinic import demo
from clinic.extensions import db
from clinic.services.identity import accounts
from clinic.services.identity.audit import COMMAND_LINE, act_as
from tests.browser.helpers.accessibility import violations
from tests.browser.helpers.front_desk import register
from tests.browser.helpers.live import PASSWORD, ROLES, LiveServer, sign_in, snap
from tests.browser.helpers.referrals import add_overdue_referral
from tests.browser.helpers.worklist import seed_calls
from tests.helpers.app import make_app
from tests.pages import BY_ENDPOINT, HTML, example_records, pages_for

pytestmark = pytest.mark.browser

DEMO_PATIENTS = 24
# The demo's first physician signs in as the physician, so the worklist and the schedule are theirs.
DEMO_PHYSICIAN = demo.PHYSICIANS[0][0]


class SeededServer(LiveServer):
    def username(self, role: str) -> str:
        return DEMO_PHYSICIAN if role == "physician" else super().username(role)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory) -> Iterator[SeededServer]:
    """This module's own live server on SQLite, holding the demo data and one account per role.

    It stands in for the suite's ``live_server`` here, so the ``page`` fixture (console errors,
    screenshots on failure) uses it.
    """
    url = f"sqlite:///{tmp_path_factory.mktemp('a11y') / 'clinic.db'}"
    app = make_app(url, str(tmp_path_factory.mktemp("a11y-instance")), SHOW_ERROR_PAGES=True)
    with app.app_context():
        upgrade()
        act_as(db.session, COMMAND_LINE)
        demo.seed_demo(db.session, patients=DEMO_PATIENTS)
        for role in ROLES:
            if role == "physician":
                physician = accounts.get_user_by_username(db.session, DEMO_PHYSICIAN)
                accounts.set_password(db.session, physician, PASSWORD)
            else:
                name = f"Test {role.replace('_', ' ').title()}"
                accounts.create_user(db.session, role.replace("_", ""), name, role, PASSWORD)
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    live = SeededServer(f"http://127.0.0.1:{server.server_port}", app, "sqlite")
    add_overdue_referral(live, days=9)  # its card on /referrals is tinted red
    # Calls to make today and overdue: the call list's rows with their forms, whose five columns
    # had no room at a phone's or a tablet's width.
    seed_calls(
        live,
        [("Maria", "Gonzalez-Hernandez", "555-944-8164", 3), ("Paul", "Adams", "555-242-7263", 0)],
    )
    try:
        yield live
    finally:
        server.shutdown()
        thread.join()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="module")
def records(live_server) -> dict[str, int]:
    """The ids the page list's URL patterns are filled with."""
    with live_server.app.app_context():
        return example_records(db.session)


@pytest.fixture(scope="module")
def axe() -> Axe:
    return Axe()


def record_pages_linked(page, live_server, role: str) -> list[tuple[str, str]]:
    """(endpoint, URL) of each record page (not a form) ``role`` may open that this page links to."""
    adapter = live_server.app.url_map.bind("127.0.0.1")
    found = []
    for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
        url = urlsplit(href)
        if f"{url.scheme}://{url.netloc}" != live_server.url:
            continue
        try:
            endpoint, _ = adapter.match(url.path, method="GET")
        except HTTPException:
            continue
        listed = BY_ENDPOINT.get(endpoint)
        if listed and listed.kind == HTML and listed.needs and role in listed.roles:
            found.append((endpoint, url.path + (f"?{url.query}" if url.query else "")))
    return found


@pytest.mark.parametrize("role", ROLES)
def test_every_page_a_role_sees_passes_axe(page, live_server, records, axe, role):
    sign_in(page, live_server, role)
    page.wait_for_url("/")
    listed = [url for entry in pages_for(role) for url in entry.examples(records)]
    leads: dict[str, str] = {}  # one more record page per endpoint, found by following links
    found: list[str] = []

    def check(url: str) -> None:
        response = page.goto(url)
        assert response is not None and response.ok, f"{url}: {response and response.status}"
        found.extend(violations(axe, page))

    for url in listed:
        check(url)
        for endpoint, lead in record_pages_linked(page, live_server, role):
            if lead not in listed:
                leads.setdefault(endpoint, lead)
    for url in leads.values():
        check(url)
    assert not found, f"{len(found)} accessibility violations for {role}:\n" + "\n".join(found)


def test_the_login_page_passes_axe(page, axe):
    page.goto("/login")
    assert violations(axe, page) == []
    snap(page, "a11y-login")


# The focus ring (WCAG 1.4.11 non-text contrast, 2.4.7 focus visible): axe-core does not look at
# focus, so these tests press Tab and measure the ring the browser draws.
FOCUS_STATE = """() => {
  const element = document.activeElement;
  const style = getComputedStyle(element);
  // What the ring is seen against: sample just outside it (left, right, above, below), take the
  // element on top there (not the focused one) and the background colours from it outwards, down
  // to the first opaque one. Sampling the screen finds the nav bar under the skip link too.
  const backgrounds = (node) => {
    const layers = [];
    for (; node; node = node.parentElement) {
      const colour = getComputedStyle(node).backgroundColor;
      layers.push(colour);
      if (colour.startsWith("rgb(")) break;
    }
    return layers;
  };
  const box = element.getBoundingClientRect();
  const reach = parseFloat(style.outlineOffset) + parseFloat(style.outlineWidth) + 1;
  const [left, right, top, bottom] = [
    box.left - reach, box.right + reach, box.top - reach, box.bottom + reach,
  ];
  const [x, y] = [box.left + box.width / 2, box.top + box.height / 2];
  const points = [
    [left, y], [right, y], [x, top], [x, bottom],
    [left, top], [right, top], [left, bottom], [right, bottom],
  ];
  const behind = [];
  for (const [px, py] of points) {
    if (px < 0 || py < 0 || px >= innerWidth || py >= innerHeight) continue;
    const under = document.elementsFromPoint(px, py)
      .find((node) => node !== element && !element.contains(node));
    if (under) behind.push(backgrounds(under));
  }
  if (!behind.length) behind.push(backgrounds(element.parentElement));
  return {
    what: element.outerHTML.slice(0, 120),
    colour: style.outlineColor,
    style: style.outlineStyle,
    width: parseFloat(style.outlineWidth),
    behind: behind,
  };
}"""


def rgba(css: str) -> tuple[float, float, float, float]:
    """A computed CSS colour, ``rgb(r, g, b)`` or ``rgba(r, g, b, a)``, as four numbers."""
    assert css.startswith("rgb"), f"unexpected computed colour {css!r}"
    parts = [float(part) for part in css[css.index("(") + 1 : -1].split(",")]
    return (*parts[:3], parts[3] if len(parts) == 4 else 1.0)


def composite(layers: list[str]) -> tuple[float, float, float]:
    """The colour seen through ``layers`` (nearest first) over a white page."""
    red, green, blue = 255.0, 255.0, 255.0
    for layer in reversed(layers):
        r, g, b, alpha = rgba(layer) if layer != "transparent" else (0, 0, 0, 0)
        red, green, blue = (
            alpha * r + (1 - alpha) * red,
            alpha * g + (1 - alpha) * green,
            alpha * b + (1 - alpha) * blue,
        )
    return red, green, blue


def luminance(colour: tuple[float, ...]) -> float:
    """WCAG 2 relative luminance of an sRGB colour (0-255 channels)."""

    def linear(channel: float) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(channel) for channel in colour[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(one: tuple[float, ...], other: tuple[float, ...]) -> float:
    """WCAG 2 contrast ratio, from 1 (the same) to 21 (black on white)."""
    lighter, darker = sorted((luminance(one), luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


WHITE = (255.0, 255.0, 255.0)


def test_contrast_ratio_matches_wcag_examples():
    assert round(contrast((0, 0, 0), WHITE), 1) == 21.0
    assert round(contrast((0x0D, 0x6E, 0xFD), WHITE), 2) == 4.50  # Bootstrap's blue
    assert round(contrast((0xF0, 0xA2, 0x02), WHITE), 2) == 2.13  # the old amber ring


def test_focus_ring_is_3_to_1_against_white_and_at_least_2px(page):
    page.goto("/login")
    for _ in range(10):  # past the skip link and the brand, or round from the autofocus
        page.keyboard.press("Tab")
        state = page.evaluate(FOCUS_STATE)
        if 'name="username"' in state["what"]:
            break
    assert 'name="username"' in state["what"], state["what"]
    assert all(composite(layers) == WHITE for layers in state["behind"]), state["behind"]
    assert state["style"] == "solid"
    assert state["width"] >= 2, state
    ratio = contrast(rgba(state["colour"])[:3], WHITE)
    assert ratio >= 3, f"the focus ring is {ratio:.2f}:1 against white"
    snap(page, "a11y-focus-on-white")


FOCUS_PAGES = {
    "front_desk": ["/", "/referrals", "/patients/{patient_id}", "/worklist"],
    "physician": ["/reports/relief", "/schedule?view=week", "/patients/{patient_id}/stimulator"],
}
MAX_TAB_STOPS = 60


@pytest.mark.parametrize("role", sorted(FOCUS_PAGES))
def test_every_focus_stop_shows_a_ring_that_stands_out_from_what_is_behind_it(
    page, live_server, records, role
):
    """Tab through pages with the nav bar, tinted cards and panels: each ring 3:1, 2px or more."""
    sign_in(page, live_server, role)
    page.wait_for_url("/")
    problems = []
    stops = 0
    for pattern in FOCUS_PAGES[role]:
        url = pattern.format(**records)
        page.goto(url)
        for _ in range(MAX_TAB_STOPS):
            page.keyboard.press("Tab")
            state = page.evaluate(FOCUS_STATE)
            if state["what"].startswith("<body"):
                break  # past the last control
            stops += 1
            ring = rgba(state["colour"])[:3]
            ratios = sorted(contrast(ring, composite(layers)) for layers in state["behind"])
            # Where the ring runs past a neighbouring button it may meet a dark colour; it must
            # stand out from what lies behind at least three quarters of its length.
            typical = ratios[len(ratios) // 4]
            if state["style"] == "none" or state["width"] < 2 or typical < 3:
                behind = [tuple(round(c) for c in composite(layers)) for layers in state["behind"]]
                problems.append(
                    f"{url}: {state['what']}: {state['style']} {state['width']}px "
                    f"{state['colour']} against {behind}: {typical:.2f}:1"
                )
        if url == "/referrals":
            page.locator(".referral-overdue a").first.focus()
            snap(page, "a11y-focus-on-overdue-card")
    assert stops > 30
    assert not problems, "focus rings that do not stand out:\n" + "\n".join(problems)


# Reflow (WCAG 1.4.10): on a phone (360 px) or a tablet (768 px) no page scrolls sideways as a
# whole; a wide table scrolls inside its own box.
REFLOW_PAGES = [
    "/",
    "/patients",
    "/patients/{patient_id}",
    "/schedule",
    "/schedule?view=week",
    "/worklist",
    "/referrals",
]
OVERFLOW = """() => {
  const width = innerWidth;
  const culprits = [];
  for (const element of document.body.querySelectorAll("*")) {
    const box = element.getBoundingClientRect();
    if (box.right <= width + 1 || box.width === 0) continue;
    // Inside a box that scrolls or clips sideways, a wide element is that box's business.
    let contained = false;
    for (let node = element.parentElement; node && node !== document.body; node = node.parentElement) {
      if (["auto", "scroll", "hidden", "clip"].includes(getComputedStyle(node).overflowX)) {
        contained = true;
        break;
      }
    }
    if (!contained) culprits.push(`${element.tagName.toLowerCase()}.${[...element.classList].join(".")} ends at ${Math.round(box.right)}px`);
  }
  return {scroll: document.scrollingElement.scrollWidth, width: width, culprits: culprits.slice(0, 5)};
}"""
# A table cell or a description whose text is wider than itself spills over its neighbour's
# (the call list's five columns at 360 px put the phone number over the procedure): what is
# drawn must fit the box it is drawn in, unless that box clips or scrolls it.
SPILLED = r"""() => {
  const spilled = [];
  for (const element of document.body.querySelectorAll("td, th, dd, dt")) {
    if (element.getClientRects().length === 0 || element.clientWidth === 0) continue;
    if (["auto", "scroll", "hidden", "clip"].includes(getComputedStyle(element).overflowX)) continue;
    if (element.scrollWidth > element.clientWidth + 1) {
      spilled.push(`${element.tagName.toLowerCase()}.${[...element.classList].join(".")} ` +
        `${element.scrollWidth}px of text in ${element.clientWidth}px: ` +
        element.innerText.slice(0, 40).replace(/\s+/g, " "));
    }
  }
  return spilled.slice(0, 5);
}"""


STACKED_SCROLLS = """() => [...document.querySelectorAll(".table-stacked")]
  .map((table) => table.parentElement)
  .filter((box) => box.scrollWidth > box.clientWidth + 1)
  .map((box) => [box.scrollWidth, box.clientWidth])"""


@pytest.mark.parametrize("width", [360, 768])
@pytest.mark.parametrize("role", ["front_desk", "physician"])
def test_no_page_scrolls_sideways_on_a_phone_or_tablet(page, live_server, records, role, width):
    page.set_viewport_size({"width": width, "height": 800})
    sign_in(page, live_server, role)
    page.wait_for_url("/")
    problems = []
    for pattern in REFLOW_PAGES:
        url = pattern.format(**records)
        page.goto(url)
        state = page.evaluate(OVERFLOW)
        if state["scroll"] > state["width"]:
            problems.append(f"{url}: {state['scroll']}px wide in {width}px: {state['culprits']}")
        problems += [f"{url} at {width}px: {spilled}" for spilled in page.evaluate(SPILLED)]
        # A table drawn as cards on a phone (a patient's procedures) needs no sideways scroll.
        if width == 360:
            problems += [
                f"{url} at {width}px: a stacked table scrolls sideways, {wide}px in {box}px"
                for wide, box in page.evaluate(STACKED_SCROLLS)
            ]
        if width == 360 and pattern in ("/schedule?view=week", "/patients/{patient_id}"):
            snap(page, f"a11y-{width}-{role}-{pattern.strip('/').split('?')[-1].split('/')[0]}")
    assert not problems, "pages wider than the screen, or text wider than its cell:\n" + "\n".join(
        problems
    )


# Print (issue 18): paper is white and browsers leave background colours off, so every piece of
# text must be dark enough on its own (4.5:1 on white), and what only works on screen is hidden.
PRINT_PAGES = [
    "/referrals",
    "/worklist",
    "/patients/{patient_id}",
    "/schedule",
    "/schedule?view=week",
    "/reports/relief",
]
PRINTED = """() => {
  const visible = (element) =>
    element.getClientRects().length > 0 && getComputedStyle(element).visibility !== "hidden";
  const shown = [...document.querySelectorAll("header, nav, .btn, button, .pagination")]
    .filter(visible)
    .map((element) => element.outerHTML.slice(0, 100));
  const texts = [];
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const element = node.parentElement;
    if (!node.textContent.trim() || seen.has(element) || !visible(element)) continue;
    seen.add(element);
    let opacity = 1;
    for (let up = element; up; up = up.parentElement) opacity *= parseFloat(getComputedStyle(up).opacity);
    texts.push({what: element.outerHTML.slice(0, 100), colour: getComputedStyle(element).color, opacity});
  }
  return {shown, texts};
}"""


def test_printed_pages_are_black_on_white_without_nav_or_buttons(page, live_server, records):
    sign_in(page, live_server, "physician")
    page.wait_for_url("/")
    page.emulate_media(media="print")
    problems = []
    for pattern in PRINT_PAGES:
        url = pattern.format(**records)
        page.goto(url)
        printed = page.evaluate(PRINTED)
        problems += [f"{url}: shown in print: {what}" for what in printed["shown"]]
        assert printed["texts"], url
        for text in printed["texts"]:
            r, g, b, alpha = rgba(text["colour"])
            cover = alpha * text["opacity"]
            ink = tuple(cover * c + (1 - cover) * 255 for c in (r, g, b))
            ratio = contrast(ink, WHITE)
            if ratio < 4.5:
                problems.append(f"{url}: {text['what']}: {text['colour']} prints at {ratio:.2f}:1")
        if pattern in ("/referrals", "/schedule"):
            snap(page, f"a11y-print-{pattern.strip('/')}")
    assert not problems, "not legible on paper:\n" + "\n".join(problems[:40])


def test_a_refused_form_says_what_to_fix_first_and_a_save_is_said_again(page, live_server):
    # From the screen-reader walk-through: a refused booking used to leave the focus on the
    # page's body with nothing said. Now its summary takes the focus, the title starts with
    # "Error:", and the summary's link leads to the field; a save's message is written again
    # once the page is ready, so that a live region announces it.
    sign_in(page, live_server, "front_desk")
    page.goto("/schedule/new")
    page.get_by_role("button", name="Book").click()
    expect(page).to_have_title(re.compile(r"^Error: "))
    summary = page.locator("[data-error-summary]")
    # The fields to fix in the page's order, whatever the form's; the page put the focus on the
    # first of them, which says its own error, so it stays there.
    expect(summary.get_by_role("listitem").first).to_contain_text("Patient MRN")
    expect(page.get_by_label("Patient MRN")).to_be_focused()
    # Only the start is missing: the focus would be on no field to fix, so the summary takes it.
    page.get_by_label("Patient MRN").fill("C0000001")
    page.get_by_label("Procedure or visit").select_option(index=1)
    page.get_by_role("button", name="Book").click()
    expect(page).to_have_title(re.compile(r"^Error: "))
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Start")
    summary.get_by_role("link", name=re.compile("^Start")).click()
    expect(page.get_by_label("Start")).to_be_focused()
    snap(page, "booking-refused-summary")

    register(page, "Ada", "Voiceover", "1970-01-02")
    saved = page.locator("main > .alert[role='status']")
    expect(saved).not_to_be_empty()
    expect(page).not_to_have_title(re.compile(r"^Error: "))
    # The message was emptied and written again: a change a live region announces.
    written = saved.evaluate(
        "m => new Promise(done => { const seen = [m.textContent]; "
        "new MutationObserver(() => seen.push(m.textContent)).observe(m, {childList: true, characterData: true, subtree: true}); "
        "setTimeout(() => done(seen), 50); })"
    )
    assert written[-1].strip()
