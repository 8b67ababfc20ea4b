"""Browser tests: Playwright driving Debian's Chromium against a live server on 127.0.0.1.

The live server has a database of its own (per backend), migrated and given one account per
role; it commits for real, so it never shares the rolled-back database of the other tests.
Any console error on a visited page (a CSP violation, a missing asset) fails the test, and a
failing test leaves a screenshot in tests/browser/screenshots/.
"""

import os
import threading
from collections.abc import Iterator

import pytest
from flask_migrate import upgrade
from werkzeug.serving import make_server

from clinic.extensions import db
from clinic.services.identity import accounts
from tests.browser.helpers.live import PASSWORD, ROLES, SCREENSHOTS, LiveServer
from tests.helpers.app import (
    BACKENDS,
    TEST_DATABASE_URL,
    create_throwaway_database,
    drop_database,
    make_app,
    skip_without_postgres,
)

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@pytest.fixture(scope="session", params=BACKENDS)
def live_server(request, tmp_path_factory) -> Iterator[LiveServer]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('live') / 'clinic.db'}"
    elif not TEST_DATABASE_URL:
        skip_without_postgres()
    else:
        url = create_throwaway_database(TEST_DATABASE_URL)
    app = make_app(url, str(tmp_path_factory.mktemp("live-instance")), SHOW_ERROR_PAGES=True)
    with app.app_context():
        upgrade()
        for role in ROLES:
            accounts.create_user(
                db.session,
                role.replace("_", ""),
                f"Test {role.replace('_', ' ').title()}",
                role,
                PASSWORD,
            )
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.server_port}", app, request.param)
    finally:
        server.shutdown()
        thread.join()
        with app.app_context():
            db.engine.dispose()
        if request.param == "postgresql":
            drop_database(url)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        message = f"Browser tests need Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CLINIC_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def page(browser, live_server, request):
    """A fresh browser tab; console errors fail the test; a screenshot is kept on failure."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems: list[str] = []
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "response",
        lambda response: (
            problems.append(f"{response.status} {response.url}")
            if response.status >= 400
            and response.request.resource_type in {"stylesheet", "script", "image", "font"}
            else None
        ),
    )
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()
    assert not problems, f"console errors or missing assets: {problems}"
