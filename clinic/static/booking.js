// The booking form: choosing a procedure or visit fills its default length, and the end time
// is shown from the start and the length. The server fills an empty length the same way.
(function () {
  "use strict";
  var form = document.querySelector("form.booking-form");
  if (!form) { return; }
  var lengths = JSON.parse(form.getAttribute("data-lengths") || "{}");
  var what = form.querySelector("#what");
  var start = form.querySelector("#start_time");
  var duration = form.querySelector("#duration_minutes");
  var ends = document.getElementById("booking-ends");
  var typed = duration.value !== "" && what.value === "";

  function showEnd() {
    var match = /^(\d{2}):(\d{2})/.exec(start.value || "");
    var minutes = parseInt(duration.value, 10);
    if (!match || !(minutes > 0)) { ends.textContent = ""; return; }
    var total = parseInt(match[1], 10) * 60 + parseInt(match[2], 10) + minutes;
    var day = total >= 1440 ? " (next day)" : "";
    total = total % 1440;
    var hh = String(Math.floor(total / 60)).padStart(2, "0");
    var mm = String(total % 60).padStart(2, "0");
    ends.textContent = "Ends at " + hh + ":" + mm + day + ".";
  }

  what.addEventListener("change", function () {
    if (!typed && lengths[what.value]) { duration.value = lengths[what.value]; }
    showEnd();
  });
  duration.addEventListener("input", function () { typed = duration.value !== ""; showEnd(); });
  start.addEventListener("input", showEnd);
  start.addEventListener("change", showEnd);
  if (duration.value === "" && lengths[what.value]) { duration.value = lengths[what.value]; }
  showEnd();
}());
