"""Shared by the tests: moved out of tests.browser.test_accessibility so no test module imports another."""

from axe_playwright_python.sync_playwright import Axe

AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]},
    "resultTypes": ["violations"],
}


def violations(axe: Axe, page) -> list[str]:
    """axe-core's WCAG A/AA violations on the page, one line per element: rule, element, why."""
    found = []
    for violation in axe.run(page, options=AXE_OPTIONS).response["violations"]:
        for node in violation["nodes"]:
            target = " ".join(str(part) for part in node["target"])
            summary = " ".join((node.get("failureSummary") or "").split())
            found.append(f"{violation['id']} on {page.url}: {target}: {summary}")
    return found
