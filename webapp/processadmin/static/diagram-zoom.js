// Zoom and pan for a process diagram: buttons (放大, 缩小, 适合宽度, 原始大小), dragging to pan, and the wheel with
// Ctrl held to zoom. The diagram starts at its drawn size (text as readable as the page's), scrolled inside its
// frame; a diagram narrower than the frame starts at the frame's width. Loaded as a file: the site allows no inline
// script.
(function () {
  "use strict";
  var STEP = 1.25, SMALLEST = 0.2, LARGEST = 4;

  function setUp(frame) {
    var svg = frame.querySelector("svg");
    if (!svg || !svg.viewBox || !svg.viewBox.baseVal) { return; }
    var box = svg.viewBox.baseVal, width = box.width, height = box.height;
    var shown = frame.closest(".diagram-zoom").querySelector(".zoom-level");
    var scale = 1;

    function apply(next, focusX, focusY) {
      var before = scale;
      scale = Math.min(LARGEST, Math.max(SMALLEST, next));
      // Keep the point under the cursor (or the frame's centre) where it was.
      var x = focusX === undefined ? frame.clientWidth / 2 : focusX;
      var y = focusY === undefined ? frame.clientHeight / 2 : focusY;
      var left = (frame.scrollLeft + x) / before, top = (frame.scrollTop + y) / before;
      svg.style.width = Math.round(width * scale) + "px";
      svg.style.height = Math.round(height * scale) + "px";
      frame.scrollLeft = left * scale - x;
      frame.scrollTop = top * scale - y;
      if (shown) { shown.textContent = Math.round(scale * 100) + "%"; }
    }

    function fitScale() { return (frame.clientWidth - 2) / width; }

    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String(height));
    apply(fitScale() > 1 ? fitScale() : 1, 0, 0);

    var actions = {
      "zoom-in": function () { apply(scale * STEP); },
      "zoom-out": function () { apply(scale / STEP); },
      "zoom-fit": function () { apply(fitScale(), 0, 0); },
      "zoom-reset": function () { apply(1); }
    };
    frame.closest(".diagram-zoom").querySelectorAll("button[data-zoom]").forEach(function (button) {
      button.addEventListener("click", function () { actions[button.dataset.zoom](); });
    });

    frame.addEventListener("wheel", function (event) {
      if (!event.ctrlKey) { return; }  // a plain wheel scrolls the page as usual
      event.preventDefault();
      var rect = frame.getBoundingClientRect();
      apply(event.deltaY < 0 ? scale * STEP : scale / STEP, event.clientX - rect.left, event.clientY - rect.top);
    }, { passive: false });

    var dragging = null;
    frame.addEventListener("pointerdown", function (event) {
      if (event.button !== 0 || event.pointerType === "touch") { return; }  // touch pans natively
      dragging = { x: event.clientX, y: event.clientY, left: frame.scrollLeft, top: frame.scrollTop };
      frame.classList.add("dragging");
      frame.setPointerCapture(event.pointerId);
    });
    frame.addEventListener("pointermove", function (event) {
      if (!dragging) { return; }
      frame.scrollLeft = dragging.left - (event.clientX - dragging.x);
      frame.scrollTop = dragging.top - (event.clientY - dragging.y);
    });
    function stop() { dragging = null; frame.classList.remove("dragging"); }
    frame.addEventListener("pointerup", stop);
    frame.addEventListener("pointercancel", stop);
  }

  document.querySelectorAll(".diagram-zoom .diagram").forEach(setUp);
})();
