// What a screen reader should hear first when a page comes back from a form.
//
// A refused form: its error summary (the _forms.html form_errors macro) takes the focus, unless
// the page put it on the first field to fix, and the title starts with "Error:", so the first
// thing said is what to fix, not the first field.
// A save that worked: its message (a flashed role="status") is already on the page when it
// loads, and screen readers announce only changes to a live region; it is written again once
// the page is ready, so that it is said.
(function () {
  "use strict";
  function ready() {
    var summary = document.querySelector("[data-error-summary]");
    if (summary) {
      inPageOrder(summary.querySelector("ul"));
      if (document.title.indexOf("Error: ") !== 0) { document.title = "Error: " + document.title; }
      // A page that puts the focus on the first field to fix keeps it there: that field says
      // its error. Any other focus (the first field of the form, or none) goes to the summary.
      var wanted = document.querySelector("[autofocus]");
      if (!wanted || wanted.getAttribute("aria-invalid") !== "true") { summary.focus(); }
      return;
    }
    var saved = document.querySelectorAll("main > .alert[role='status']");
    Array.prototype.forEach.call(saved, function (message) {
      var text = message.textContent;
      message.textContent = "";
      window.setTimeout(function () { message.textContent = text; }, 250);
    });
  }
  // The summary lists the fields in the form's order; the page may lay them out otherwise.
  function inPageOrder(list) {
    if (!list) { return; }
    var items = Array.prototype.slice.call(list.children);
    function target(item) {
      var link = item.querySelector("a[href^='#']");
      return link ? document.getElementById(link.getAttribute("href").slice(1)) : null;
    }
    items.sort(function (one, other) {
      var a = target(one), b = target(other);
      if (!a || !b || a === b) { return 0; }
      return a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1;
    });
    items.forEach(function (item) { list.appendChild(item); });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
}());
