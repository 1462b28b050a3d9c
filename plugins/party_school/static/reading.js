// 党员e家 study materials: report reading time while the tab is visible, and when the end is seen.
// The server trusts none of it blindly: each report counts at most the wall-clock time since the last one.
(function () {
  "use strict";
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }

  function init() {
    var root = document.querySelector("[data-ps-reading]");
    if (!root || !window.LMS || !window.LMS.postJSON) { return; }
    var url = root.getAttribute("data-heartbeat-url");
    if (!url) { return; }
    var every = Math.max(3, parseInt(root.getAttribute("data-beat-seconds"), 10) || 15) * 1000;
    var statusEl = root.querySelector("[data-ps-status]");
    var endEl = root.querySelector("[data-ps-end]");
    var done = root.getAttribute("data-completed") === "true";
    var visibleSince = document.visibilityState === "visible" ? Date.now() : null;
    var pending = 0;
    var reachedEnd = false;
    var endSent = false;
    var timer = null;
    var inflight = false;
    var again = false;

    function take() {
      if (visibleSince !== null) {
        var now = Date.now();
        pending += now - visibleSince;
        visibleSince = now;
      }
      var s = Math.floor(pending / 1000);
      pending -= s * 1000;
      return s;
    }

    function show(data) {
      if (!statusEl || !data) { return; }
      if (data.completed) {
        statusEl.textContent = "已读完，学时已记入“我的学时”。";
        done = true;
        stop();
      } else if (data.reached_end && data.required_seconds > data.effective_seconds) {
        var left = Math.max(1, Math.ceil((data.required_seconds - data.effective_seconds) / 60));
        statusEl.textContent = "已读到文末，再阅读约 " + left + " 分钟即计为已读。";
      }
    }

    function beat(final) {
      if (done && !final) { return; }
      if (inflight && !final) { again = true; return; }
      var body = { seconds: take(), end: reachedEnd && !endSent };
      if (body.end) { endSent = true; }
      if (final && window.fetch) {
        fetch(url, { method: "POST", credentials: "same-origin", keepalive: true,
          headers: { "Content-Type": "application/json", "X-CSRFToken": window.LMS.csrfToken },
          body: JSON.stringify(body) });
        return;
      }
      inflight = true;
      window.LMS.postJSON(url, body).then(function (r) {
        if (!r.ok) { throw new Error("heartbeat " + r.status); }
        return r.json();
      }).then(show).catch(function () {
        pending += body.seconds * 1000;
        if (body.end) { endSent = false; }
      }).then(function () {
        inflight = false;
        if (again) { again = false; beat(false); }
      });
    }

    function start() { if (!timer && !done) { timer = window.setInterval(function () { beat(false); }, every); } }
    function stop() { if (timer) { window.clearInterval(timer); timer = null; } }

    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") {
        visibleSince = Date.now();
        start();
      } else {
        take();
        visibleSince = null;
        stop();
        if (!done) { beat(true); }
      }
    });

    if (endEl && "IntersectionObserver" in window) {
      new IntersectionObserver(function (entries, obs) {
        entries.forEach(function (e) {
          if (e.isIntersecting) { reachedEnd = true; obs.disconnect(); beat(false); }
        });
      }).observe(endEl);
    } else {
      reachedEnd = true;
    }
    if (!done) {
      beat(false);
      if (visibleSince !== null) { start(); }
    }
  }
})();
