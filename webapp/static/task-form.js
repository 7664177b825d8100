// Show a task form's conditional fields only while their condition holds (data-show-field / -operator / -value).
// Without this script every field shows, and the server ignores those whose condition is false.
(function () {
  "use strict";
  function current(form, name) {
    const inputs = form.querySelectorAll("[name='" + CSS.escape(name) + "']");
    for (const input of inputs) {
      if (input.type === "radio") { if (input.checked) { return input.value; } } else { return input.value; }
    }
    return "";
  }
  function refresh(form) {
    for (const box of form.querySelectorAll("[data-show-field]")) {
      const equal = current(form, box.dataset.showField) === box.dataset.showValue;
      box.hidden = box.dataset.showOperator === "==" ? !equal : equal;
    }
  }
  for (const form of document.querySelectorAll("form")) {
    if (form.querySelector("[data-show-field]")) {
      form.addEventListener("change", function () { refresh(form); });
      refresh(form);
    }
  }
})();
