// The birth date of a spouse is part of their ID number (digits 7-14): once a whole, well-formed number is typed,
// the birth date input it names (data-birth-date) is filled from it. The server takes the same date from the
// number when the input is left blank, and refuses a typed date that disagrees.
(function () {
  "use strict";
  var ID_NUMBER = /^[1-9][0-9]{5}((?:18|19|20)[0-9]{2})(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]$/;

  function birthDateOf(number) {
    var parts = ID_NUMBER.exec(number.replace(/\s+/g, ""));
    if (!parts) { return ""; }
    var day = new Date(Date.UTC(Number(parts[1]), Number(parts[2]) - 1, Number(parts[3])));
    if (day.getUTCDate() !== Number(parts[3])) { return ""; }  // e.g. 0230: no such day
    return parts[1] + "-" + parts[2] + "-" + parts[3];
  }

  document.querySelectorAll("input[data-birth-date]").forEach(function (idInput) {
    var target = document.getElementById(idInput.getAttribute("data-birth-date"));
    if (!target) { return; }
    function fill() {
      var born = birthDateOf(idInput.value);
      if (born && target.value !== born) {
        target.value = born;
        target.dispatchEvent(new Event("change", {bubbles: true}));
      }
    }
    idInput.addEventListener("input", fill);
    idInput.addEventListener("change", fill);
    fill();
  });
}());
