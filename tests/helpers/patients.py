"""Shared by the tests: moved out of tests.test_patients so no test module imports another."""

from html.parser import HTMLParser


class FormReader(HTMLParser):
    """What a browser would send back from a page's forms: inputs, selected options, text areas."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("name") and attrs.get("type") != "checkbox":
            self.values[attrs["name"]] = attrs.get("value") or ""
        elif tag == "select":
            self._select = attrs.get("name")
        elif tag == "option" and self._select and "selected" in attrs:
            self.values[self._select] = attrs.get("value") or ""
        elif tag == "textarea" and attrs.get("name"):
            self._textarea = attrs["name"]
            self.values[self._textarea] = ""

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            # A browser drops the one line break that follows <textarea>.
            text = self.values[self._textarea]
            skip = 2 if text.startswith("\r\n") else 1 if text.startswith("\n") else 0
            self.values[self._textarea] = text[skip:]
            self._textarea = None


def form_values(html: str) -> dict[str, str]:
    reader = FormReader()
    reader.feed(html)
    return reader.values
