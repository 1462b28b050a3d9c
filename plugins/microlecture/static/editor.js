// Lesson video editor: chunked, resumable upload with a progress bar, then live transcode progress.
(function () {
  "use strict";
  var root = document.querySelector("[data-ml-upload]");
  var statusBox = document.querySelector("[data-ml-status]");
  function $(sel, el) { return (el || document).querySelector(sel); }

  function sendJSON(method, url, body) {
    return fetch(url, {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": window.LMS.csrfToken, "Accept": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) { return r.json().then(function (d) { return { status: r.status, data: d }; }); });
  }

  // ---- live status of the transcode -------------------------------------------------------------
  var order = ["uploading", "processing", "awaiting_review", "published"];
  function paintSteps(status) {
    if (!statusBox) { return; }
    var idx = order.indexOf(status === "returned" ? "awaiting_review" : status);
    statusBox.querySelectorAll("[data-step]").forEach(function (li, i) {
      li.classList.toggle("done", idx > i || status === "published");
      li.classList.toggle("current", idx === i && status !== "published");
    });
  }
  var polling = false;
  function poll() {
    if (!statusBox || polling) { return; }
    polling = true;
    var every = (parseFloat(statusBox.getAttribute("data-poll")) || 2) * 1000;
    (function tick() {
      fetch(statusBox.getAttribute("data-url"), { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (d) {
          var label = $("[data-ml-status-label]");
          if (label) { label.textContent = d.label; label.className = "status ml-status-" + d.status; }
          paintSteps(d.status);
          var job = d.job, box = $("[data-ml-job]");
          if (job && (job.state === "queued" || job.state === "running")) {
            box.hidden = false;
            $("[data-ml-job-label]").textContent = job.label;
            $("[data-ml-job-pct]").textContent = job.progress.toFixed(1);
            $("[data-ml-job-bar]").value = job.progress;
            setTimeout(tick, every);
          } else {
            box.hidden = true;
            $("[data-ml-job-error]").hidden = !(job && job.state === "failed");
            polling = false;
            if (job && job.state === "done") { window.location.reload(); }
          }
        })
        .catch(function () { setTimeout(tick, every * 2); });
    })();
  }
  if (statusBox) {
    paintSteps((($("[data-ml-status-label]") || {}).className || "").replace(/.*ml-status-/, ""));
    if (statusBox.getAttribute("data-active") === "1") { poll(); }
  }

  // ---- chunked upload ---------------------------------------------------------------------------
  if (!root) { return; }
  var input = $("[data-ml-file]", root), go = $("[data-ml-upload-go]", root);
  var err = $("[data-ml-upload-error]", root), box = $("[data-ml-upload-progress]", root);
  var bar = $("[data-ml-upload-bar]", root), text = $("[data-ml-upload-text]", root);
  function msg(name) { return root.getAttribute("data-msg-" + name) || ""; }
  function showError(m) { err.textContent = m; err.hidden = false; go.disabled = false; }
  function fmt(n) { return (n / 1048576).toFixed(1) + " MB"; }

  function putChunk(up, file, attempt) {
    var end = Math.min(up.received + up.chunk_size, file.size);
    var blob = file.slice(up.received, end);
    return fetch(up.url, {
      method: "PUT", credentials: "same-origin", body: blob,
      headers: { "Content-Type": "application/octet-stream", "Upload-Offset": String(up.received),
                 "X-CSRFToken": window.LMS.csrfToken, "Accept": "application/json" }
    }).then(function (r) {
      return r.json().then(function (d) {
        if (r.ok) { return d; }
        if (r.status === 409 && typeof d.received === "number") { up.received = d.received; return up; }
        var e = new Error(d.error || msg("failed")); e.fatal = true; throw e;
      });
    }).catch(function (e) {
      if (e.fatal || attempt >= 30) { throw e; }
      text.textContent = msg("network");
      return new Promise(function (res) { setTimeout(res, Math.min(30000, 1000 * Math.pow(2, attempt))); })
        .then(function () { return sendJSON("GET", up.url.replace(/\/?$/, "")); })
        .then(function (s) { if (s.status === 200) { up.received = s.data.received; } return putChunk(up, file, attempt + 1); },
              function () { return putChunk(up, file, attempt + 1); });
    });
  }

  function loop(up, file) {
    bar.value = file.size ? (100 * up.received / file.size) : 0;
    text.textContent = fmt(up.received) + " / " + fmt(file.size) + "（" + Math.floor(bar.value) + "%）";
    if (up.received >= file.size) {
      text.textContent = msg("probing");
      return sendJSON("POST", up.finish_url, {}).then(function (r) {
        if (r.status !== 200) { showError(r.data.error || msg("failed")); box.hidden = true; return; }
        text.textContent = msg("done");
        input.value = "";
        go.disabled = false;
        var label = $("[data-ml-status-label]");
        if (label) { label.className = "status ml-status-processing"; }
        if (statusBox) { statusBox.setAttribute("data-active", "1"); poll(); }
      });
    }
    return putChunk(up, file, 0).then(function (next) {
      up.received = next.received;
      return loop(up, file);
    });
  }

  go.addEventListener("click", function () {
    err.hidden = true;
    var file = input.files && input.files[0];
    if (!file) { showError(msg("choose")); return; }
    if (file.size > parseInt(root.getAttribute("data-max-bytes"), 10)) { showError(msg("too-big")); return; }
    go.disabled = true; box.hidden = false;
    sendJSON("POST", root.getAttribute("data-start-url"), { filename: file.name, size: file.size })
      .then(function (r) {
        if (r.status !== 201) { throw Object.assign(new Error(r.data.error || msg("failed")), { fatal: true }); }
        if (r.data.received > 0) { text.textContent = msg("resumed"); }
        return loop(r.data, file);
      })
      .catch(function (e) { showError(e.message || msg("failed")); });
  });
})();
