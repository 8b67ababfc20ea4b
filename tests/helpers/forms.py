"""The POST forms a page draws, with the values it drew, as a browser would submit them."""

from dataclasses import dataclass, field
from datetime import date
from html.parser import HTMLParser
from urllib.parse import urljoin

# What a clerk would type into a field drawn empty, by its input type: enough for the form to
# pass its checks, so that one odd value in another field reaches the code behind it.
TYPED = {"number": "3", "date": None, "time": "09:00", "email": "jo@example.org", "tel": "555-0100"}


@dataclass
class DrawnForm:
    action: str
    values: dict[str, str] = field(default_factory=dict)


class _FormReader(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: list[DrawnForm] = []
        self._form: DrawnForm | None = None
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = {name: value or "" for name, value in attrs}
        if tag == "form" and attrs.get("method", "").lower() == "post":
            self._form = DrawnForm(urljoin(self.page_url, attrs.get("action") or self.page_url))
            self.forms.append(self._form)
        elif self._form is None or tag not in ("input", "select", "option", "textarea"):
            return
        elif tag == "input" and attrs.get("name"):
            self._input(attrs)
        elif tag == "select":
            self._select = attrs.get("name")
        elif tag == "option" and self._select:
            # The selected option, else the first one with a value.
            if "selected" in attrs or not self._form.values.get(self._select):
                self._form.values[self._select] = attrs.get("value", "")
        elif tag == "textarea" and attrs.get("name"):
            self._textarea = attrs["name"]
            self._form.values[self._textarea] = ""

    def _input(self, attrs) -> None:
        kind, name, value = attrs.get("type", "text"), attrs["name"], attrs.get("value", "")
        if kind in ("submit", "button", "reset", "file", "image"):
            return
        if kind in ("checkbox", "radio"):
            if "checked" in attrs:
                self._form.values[name] = value or "y"
            return
        if not value and kind in TYPED:
            value = TYPED[kind] or date.today().isoformat()
        elif not value and kind == "text":
            value = "x"
        self._form.values.setdefault(name, value)

    def handle_data(self, data):
        if self._form is not None and self._textarea:
            self._form.values[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            if self._form is not None and self._textarea and not self._form.values[self._textarea]:
                self._form.values[self._textarea] = "a note"
            self._textarea = None


def drawn_forms(html: str, page_url: str) -> list[DrawnForm]:
    """Every POST form of the page: its action and the values a browser would send."""
    reader = _FormReader(page_url)
    reader.feed(html)
    return reader.forms
