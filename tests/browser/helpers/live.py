"""Shared by the tests: moved out of tests.browser.conftest so no test module imports another."""

from dataclasses import dataclass
from pathlib import Path

SCREENSHOTS = Path(__file__).resolve().parents[1] / "screenshots"


PASSWORD = "amber meadow compass 4471"


ROLES = ("front_desk", "physician", "manager", "admin")


@dataclass
class LiveServer:
    url: str
    app: object
    backend: str

    def username(self, role: str) -> str:
        return role.replace("_", "")


def snap(page, name: str) -> None:
    """Keep a screenshot of a page for people to look at (tests/browser/screenshots/)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page, live_server: LiveServer, role: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(live_server.username(role))
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
