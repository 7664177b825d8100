/* The upload page without waiting: each chosen file is sent at once, on its own, with its progress and a retry.
 *
 * The page works without this script (one form per kind, 上传 button). Here every file of a pick (several at once,
 * or a photo just taken) goes to the same address with the form's CSRF token and asks for JSON back; the kept file
 * joins its kind's list, the count and the "still missing" line follow. While anything is being sent, 下一步 is
 * disabled and says 正在上传…, so nothing chosen is left behind.
 */
(function () {
  "use strict";

  var next = document.getElementById("next-step");
  var summary = document.getElementById("materials-summary");
  var pending = 0;

  function setPending(delta) {
    pending += delta;
    if (!next) { return; }
    next.disabled = pending > 0;
    next.textContent = pending > 0 ? "正在上传…（" + pending + " 个文件）" : next.getAttribute("data-label");
  }

  window.addEventListener("beforeunload", function (event) {
    if (pending > 0) { event.preventDefault(); event.returnValue = ""; }
  });

  function showSummary(missing) {
    var p = document.createElement("p");
    if (missing.length) {
      p.className = "alert alert-warning";
      p.textContent = "还需上传 " + missing.length + " 项必需材料：" + missing.join("、");
    } else {
      p.className = "alert alert-success";
      p.textContent = "必需材料已全部上传。";
    }
    summary.replaceChildren(p);
  }

  function showCount(section, count) {
    var badge = section.querySelector(".material-count");
    badge.setAttribute("data-count", String(count));
    badge.textContent = count ? "已传 " + count + " 份" : "未上传";
    badge.classList.toggle("tag-done", count > 0);
    badge.classList.toggle("tag-missing", count === 0 && section.querySelector(".tag-required") !== null);
    section.classList.toggle("is-missing", count === 0 && section.querySelector(".tag-required") !== null);
    var full = count >= Number(section.getAttribute("data-max"));
    section.querySelector(".material-upload").hidden = full;
    section.querySelector(".material-full").hidden = !full;
  }

  function answer(xhr) {
    try { return JSON.parse(xhr.responseText); } catch (e) { return null; }
  }

  function send(section, form, file, row) {
    var bar = row.querySelector("progress");
    var status = row.querySelector(".upload-status");
    var data = new FormData();
    data.append("csrf_token", form.querySelector("input[name=csrf_token]").value);
    data.append("kind", section.getAttribute("data-kind"));
    data.append("file", file, file.name);
    row.classList.remove("failed");
    bar.hidden = false;
    bar.value = 0;
    status.textContent = "正在上传…";
    setPending(1);

    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action.split("#")[0]);
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", function (event) {
      if (event.lengthComputable) { bar.value = event.loaded / event.total; }
    });
    xhr.addEventListener("load", function () {
      var body = answer(xhr);
      if (xhr.status === 200 && body && body.items) {
        var list = section.querySelector(".material-list");
        body.items.forEach(function (html) { list.insertAdjacentHTML("beforeend", html); });
        row.remove();
        showCount(section, body.count);
        showSummary(body.missing);
      } else {
        // Without a JSON answer the request never reached the upload (an expired page answers 400 in HTML).
        failed(section, form, file, row, (body && body.error) ||
          (xhr.status === 400 ? "页面已过期，请刷新页面后重新选择文件" : "上传失败（" + xhr.status + "），请重试"));
      }
      setPending(-1);
    });
    xhr.addEventListener("error", function () {
      failed(section, form, file, row, "网络中断，上传失败");
      setPending(-1);
    });
    xhr.send(data);
  }

  function failed(section, form, file, row, message) {
    row.classList.add("failed");
    row.querySelector("progress").hidden = true;
    var status = row.querySelector(".upload-status");
    status.textContent = message;
    status.setAttribute("role", "alert");
    var retry = document.createElement("button");
    var drop = document.createElement("button");
    retry.type = drop.type = "button";
    retry.className = drop.className = "link";
    retry.textContent = "重试";
    drop.textContent = "移除";
    retry.addEventListener("click", function () { retry.remove(); drop.remove(); send(section, form, file, row); });
    drop.addEventListener("click", function () { row.remove(); });
    status.after(retry, drop);
  }

  function progressRow(list, file) {
    var row = document.createElement("li");
    var name = document.createElement("span");
    name.className = "material-name";
    name.textContent = file.name;
    var bar = document.createElement("progress");
    bar.max = 1;
    var status = document.createElement("span");
    status.className = "upload-status";
    row.append(name, bar, status);
    list.append(row);
    return row;
  }

  // A file that failed stays on the page until it is retried or removed: 下一步 does not leave it behind unseen.
  var nextForm = document.getElementById("next-form");
  if (nextForm) {
    nextForm.addEventListener("submit", function (event) {
      var failedRows = document.querySelectorAll(".upload-progress li.failed .material-name");
      if (!failedRows.length) { return; }
      event.preventDefault();
      var names = Array.prototype.map.call(failedRows, function (name) { return name.textContent; });
      var p = document.createElement("p");
      p.className = "alert alert-error";
      p.setAttribute("role", "alert");
      p.textContent = "以下文件未上传成功，请点“重试”或“移除”后再进入下一步：" + names.join("、");
      summary.replaceChildren(p);
      failedRows[0].closest(".material-kind").scrollIntoView();
    });
  }

  document.querySelectorAll(".material-kind").forEach(function (section) {
    var form = section.querySelector(".material-upload");
    if (!form) { return; }
    var list = form.querySelector(".upload-progress");
    form.querySelector(".upload-button").hidden = true;
    form.querySelectorAll("input[type=file]").forEach(function (input) {
      input.addEventListener("change", function () {
        Array.prototype.forEach.call(input.files, function (file) { send(section, form, file, progressRow(list, file)); });
        input.value = "";  // the files are on their way; the same photo may be chosen again later
      });
    });
  });
}());
