// Cascading division picker: province → city → county → township → village. It fills the 12-digit code input it
// enhances; without JavaScript the code can still be typed. "同户籍地" copies the household-registration place.
(function () {
  "use strict";
  var script = document.currentScript;
  var childrenUrl = script.getAttribute("data-children-url");
  var LEVELS = ["省", "市", "县（区）", "乡镇（街道）", "村（居）"];
  var cache = {};

  function load(code) {
    if (!cache[code]) {
      cache[code] = fetch(childrenUrl.replace("CODE", code), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : []; });
    }
    return cache[code];
  }

  function ancestors(code) {
    // The codes of the chosen path: division codes nest by prefix (2, 4, 6, 9 and 12 digits).
    if (!/^[0-9]{12}$/.test(code)) { return []; }
    return [code.slice(0, 2), code.slice(0, 4), code.slice(0, 6), code.slice(0, 9), code];
  }

  function enhance(input) {
    var box = document.createElement("div");
    box.className = "picker";
    var selects = LEVELS.map(function (label, level) {
      var select = document.createElement("select");
      select.setAttribute("aria-label", input.labels[0].textContent + " " + label);
      select.dataset.level = level;
      select.innerHTML = "<option value=''>请选择" + label + "</option>";
      select.disabled = level > 0;
      box.appendChild(select);
      return select;
    });

    function fill(level, parent, chosen) {
      var select = selects[level];
      return load(parent).then(function (items) {
        select.innerHTML = "<option value=''>请选择" + LEVELS[level] + "</option>" + items.map(function (d) {
          return "<option value='" + d.code + "'>" + d.name.replace(/</g, "&lt;") + "</option>";
        }).join("");
        select.disabled = items.length === 0;
        if (chosen) { select.value = chosen; }
      });
    }

    function clearBelow(level) {
      for (var i = level + 1; i < selects.length; i++) {
        selects[i].innerHTML = "<option value=''>请选择" + LEVELS[i] + "</option>";
        selects[i].disabled = true;
      }
    }

    selects.forEach(function (select, level) {
      select.addEventListener("change", function () {
        clearBelow(level);
        input.value = level === LEVELS.length - 1 ? select.value : "";
        if (select.value && level < LEVELS.length - 1) { fill(level + 1, select.value); }
      });
    });

    function show(code) {
      var path = ancestors(code);
      clearBelow(0);
      var step = fill(0, "0", path.length ? path[0] : "");
      path.slice(1).forEach(function (chosen, i) {
        step = step.then(function () { return fill(i + 1, path[i], chosen); });
      });
    }

    input.type = "hidden";
    input.parentNode.insertBefore(box, input.nextSibling);
    show(input.value);
    input.addEventListener("picker:set", function () { show(input.value); });

    var same = input.getAttribute("data-same-as");
    if (same) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      button.textContent = "同户籍地";
      button.addEventListener("click", function () {
        input.value = document.getElementById(same).value;
        show(input.value);
      });
      box.appendChild(button);
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll("input[data-division-picker]"), enhance);
})();
