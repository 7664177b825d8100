// 获取验证码 without leaving the page: the button's own POST (to its formaction, with the form as typed) is sent in
// the background, the messages of the page it answers with are shown in place, and the button counts down until
// another code may be asked for. The server alone enforces the rate limits: the countdown only saves a refused
// click. Without JavaScript, or when the background request fails, the button submits the form as before.
(function () {
  "use strict";
  if (window.sendCodeEnhanced) { return; }  // the script is included by each code field of a page
  window.sendCodeEnhanced = true;

  // The refusal names the wait ("请于 40 秒后再试", "请于 1 分钟后再试"); a wait of hours is left to the message.
  var WAIT_NAMED = /(\d+)\s*(秒|分钟)后/;
  var LONGEST_COUNTDOWN = 300;

  function waitNamed(text) {
    var found = WAIT_NAMED.exec(text);
    var seconds = found ? Number(found[1]) * (found[2] === "分钟" ? 60 : 1) : 0;
    return seconds <= LONGEST_COUNTDOWN ? seconds : 0;
  }

  function formOfButton(doc, action) {
    var buttons = doc.querySelectorAll("button[data-send-code]");
    for (var i = 0; i < buttons.length; i++) {
      if (buttons[i].getAttribute("formaction") === action) { return buttons[i].form || buttons[i].closest("form"); }
    }
    return null;
  }

  function showAlerts(doc) {
    var main = document.querySelector("main");
    main.querySelectorAll(":scope > .alert[role=status]").forEach(function (old) { old.remove(); });
    var fresh = doc.querySelectorAll("main > .alert[role=status]");
    for (var i = fresh.length - 1; i >= 0; i--) { main.insertBefore(document.importNode(fresh[i], true), main.firstChild); }
    return fresh;
  }

  function showFieldErrors(form, answered) {
    form.querySelectorAll(".field").forEach(function (field) {
      var input = field.querySelector("[name]");
      var twin = input && answered && answered.querySelector("[name='" + input.name + "']");
      var twinField = twin && twin.closest(".field");
      field.querySelectorAll(".field-error").forEach(function (old) { old.remove(); });
      field.classList.toggle("has-error", Boolean(twinField && twinField.classList.contains("has-error")));
      if (!twinField) { return; }
      var before = field.querySelector(".hint");
      twinField.querySelectorAll(".field-error").forEach(function (error) {
        field.insertBefore(document.importNode(error, true), before);
      });
    });
  }

  function countDown(button, seconds) {
    button.disabled = true;
    (function tick() {
      if (seconds <= 0) {
        button.disabled = false;
        button.textContent = "重新获取验证码";
        return;
      }
      button.textContent = "重新获取（" + seconds + " 秒）";
      seconds -= 1;
      window.setTimeout(tick, 1000);
    }());
  }

  function plainSubmit(button) {
    button.disabled = false;
    button.textContent = button.dataset.label;
    button.dataset.plain = "1";
    button.click();
  }

  function send(button) {
    var form = button.form;
    var action = button.getAttribute("formaction");
    button.dataset.label = button.dataset.label || button.textContent;
    button.disabled = true;
    button.textContent = "发送中…";
    fetch(action, {method: "POST", body: new FormData(form), credentials: "same-origin"})
      .then(function (response) {
        if (response.redirected) { window.location.assign(response.url); return null; }
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var answered = formOfButton(doc, action);
        if (!answered) { plainSubmit(button); return; }  // another page (the notice, a lapsed sign-in): show it
        var alerts = showAlerts(doc);
        showFieldErrors(form, answered);
        var sent = Array.prototype.some.call(alerts, function (a) { return a.classList.contains("alert-info"); });
        var wait = waitNamed(Array.prototype.map.call(alerts, function (a) { return a.textContent; }).join(""));
        if (sent) {
          countDown(button, Number(button.dataset.wait) || 60);
          var code = form.querySelector("[data-code-input]");
          if (code) { code.focus(); }
        } else if (wait) {
          countDown(button, wait);
        } else {
          button.disabled = false;
          button.textContent = button.dataset.label;
        }
      })
      .catch(function () { plainSubmit(button); });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-send-code]");
    if (!button || button.dataset.plain || !window.fetch || !window.DOMParser || !button.form) { return; }
    event.preventDefault();
    send(button);
  });
}());
