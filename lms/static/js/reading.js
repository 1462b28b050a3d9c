// Reading tracker shared by every page that credits reading (article lessons, pushed study materials):
// report reading time while the tab is visible, and once the end marker has been seen.
// The server trusts none of it blindly (lms/reading.py): each report counts at most the wall-clock time
// since the previous one, and the first report only starts its clock.
//
// Markup (texts come from the page, rendered with _() in the reader's language):
//   <div data-reading data-heartbeat-url="…" data-beat-seconds="15" data-completed="false"
//        data-text-completed="…" data-text-remaining="… {n} …">
//     … <div data-reading-end></div> <p data-reading-status role="status"></p>
//   </div>
// The server answers each report with JSON {completed, reached_end, effective_seconds, required_seconds}.
(function () {
  "use strict";
  if (window.LMS && window.LMS.readingTracker) { return; }  // loaded twice: the first copy does the work
  window.LMS = window.LMS || {};
  window.LMS.readingTracker = true;
  // With `defer`, this script may run before or after the site script (lms.js, which defines postJSON).
  if (window.LMS.postJSON) { initAll(); } else { document.addEventListener("DOMContentLoaded", initAll); }

  function initAll() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-reading]"), track);
  }

  function track(root) {
    var url = root.getAttribute("data-heartbeat-url");
    if (!url || !window.LMS.postJSON) { return; }  // nothing to report (e.g. the sender previewing)
    var every = Math.max(3, parseInt(root.getAttribute("data-beat-seconds"), 10) || 15) * 1000;
    var statusEl = root.querySelector("[data-reading-status]");
    var endEl = root.querySelector("[data-reading-end]");
    var textCompleted = root.getAttribute("data-text-completed") || "";
    var textRemaining = root.getAttribute("data-text-remaining") || "";
    var done = root.getAttribute("data-completed") === "true";
    var visibleSince = document.visibilityState === "visible" ? Date.now() : null;
    var pending = 0;  // visible milliseconds not yet reported
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
      if (!data) { return; }
      if (data.completed) {
        done = true;
        stop();
        if (statusEl && textCompleted) { statusEl.textContent = textCompleted; }
      } else if (statusEl && textRemaining && data.reached_end && data.required_seconds > data.effective_seconds) {
        var left = Math.max(1, Math.ceil((data.required_seconds - data.effective_seconds) / 60));
        statusEl.textContent = textRemaining.replace("{n}", String(left));
      }
    }

    function beat(final) {
      if (done && !final) { return; }
      if (inflight && !final) { again = true; return; }  // one report at a time; the time is kept
      var body = { seconds: take(), end: reachedEnd && !endSent };
      if (body.end) { endSent = true; }
      if (final && window.fetch) {  // the tab is being hidden or closed: a request that outlives the page
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
        pending += body.seconds * 1000;  // not counted: offer it again with the next report
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
      beat(false);  // starts the server's clock
      if (visibleSince !== null) { start(); }
    }
  }
})();
