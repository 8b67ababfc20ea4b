"""Shared by the tests: moved out of tests.browser.test_self_report so no test module imports another."""

import re


def pdf_pages(page, paper: str) -> int:
    """How many pages the browser prints the open page on, on ``paper`` (A4 or Letter)."""
    pdf = page.pdf(format=paper, print_background=False)
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
