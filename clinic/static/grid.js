// The day grid by keyboard: one Tab stop for the free times of each column (the first, then the
// one last chosen), and the arrow keys between free times — down and up in the column, left and
// right to the nearest free time of the next column, Home and End to its first and last. Without
// it every free quarter-hour of every physician is a Tab stop: dozens before the next booking.
(function () {
  "use strict";
  var grid = document.querySelector("table.schedule-day");
  if (!grid) { return; }
  var slots = Array.prototype.slice.call(grid.querySelectorAll("a.grid-slot"));
  if (!slots.length) { return; }
  var columns = {};
  slots.forEach(function (slot) {
    var key = Number(slot.getAttribute("data-column"));
    (columns[key] = columns[key] || []).push(slot);
    slot.setAttribute("tabindex", "-1");
  });
  var keys = Object.keys(columns).map(Number).sort(function (a, b) { return a - b; });
  keys.forEach(function (key) { columns[key][0].setAttribute("tabindex", "0"); });

  function row(slot) { return Number(slot.getAttribute("data-row")); }
  function column(slot) { return Number(slot.getAttribute("data-column")); }

  function nearest(list, wanted) {
    var best = list[0];
    list.forEach(function (slot) {
      if (Math.abs(row(slot) - wanted) < Math.abs(row(best) - wanted)) { best = slot; }
    });
    return best;
  }

  function move(from, to) {
    if (!to || to === from) { return; }
    columns[column(to)].forEach(function (slot) { slot.setAttribute("tabindex", "-1"); });
    to.setAttribute("tabindex", "0");
    to.focus();
  }

  grid.addEventListener("keydown", function (event) {
    var slot = event.target.closest ? event.target.closest("a.grid-slot") : null;
    if (!slot) { return; }
    var own = columns[column(slot)];
    var at = own.indexOf(slot);
    var next = keys.indexOf(column(slot));
    var to = null;
    if (event.key === "ArrowDown") { to = own[at + 1]; }
    else if (event.key === "ArrowUp") { to = own[at - 1]; }
    else if (event.key === "Home") { to = own[0]; }
    else if (event.key === "End") { to = own[own.length - 1]; }
    else if (event.key === "ArrowRight" && next + 1 < keys.length) { to = nearest(columns[keys[next + 1]], row(slot)); }
    else if (event.key === "ArrowLeft" && next > 0) { to = nearest(columns[keys[next - 1]], row(slot)); }
    else { return; }
    event.preventDefault();
    move(slot, to);
  });
}());
