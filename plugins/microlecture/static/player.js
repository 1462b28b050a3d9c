// The tracked micro-lecture player: hls.js (or native HLS on iOS), resolution and speed choice, resume,
// watching rules (no seeking ahead, pause while hidden, "still there?"), and xAPI video events to the server.
// The server decides what counts; this script only reports what happened and applies its answers.
(function () {
  "use strict";

  function init(root) {
    var video = root.querySelector("video");
    var notice = root.querySelector("[data-ml-notice]");
    var label = root.querySelector("[data-ml-progress]");
    var meter = root.querySelector("[data-ml-meter]");
    var qualityWrap = root.querySelector("[data-ml-quality-wrap]");
    var quality = root.querySelector("[data-ml-quality]");
    var speedSel = root.querySelector("[data-ml-speed]");
    var presence = root.querySelector("[data-ml-presence]");
    var src = root.getAttribute("data-src");
    var track = root.getAttribute("data-track") === "1";
    var rules = {
      noSeek: root.getAttribute("data-no-seek") === "1",
      maxSpeed: parseFloat(root.getAttribute("data-max-speed")) || 1,
      pauseHidden: root.getAttribute("data-pause-hidden") === "1",
      presenceMinutes: parseInt(root.getAttribute("data-presence-minutes"), 10) || 0
    };
    var st = { session: null, eventsUrl: null, furthest: 0, completed: false, lastTime: 0, playing: false,
               resumeAt: 0, restoring: false, watchedSincePresence: 0, lastTick: null };

    function say(key) {
      notice.textContent = key ? (notice.getAttribute("data-msg-" + key) || key) : "";
    }
    function paint(d) {
      if (typeof d.furthest === "number") { st.furthest = Math.max(st.furthest, d.furthest); }
      if (d.completed) { st.completed = true; }
      if (meter && typeof d.progress === "number") { meter.value = d.progress; }
      if (label) {
        label.textContent = st.completed ? label.getAttribute("data-done")
          : label.getAttribute("data-label").replace("{p}", Math.floor((d.progress || 0) * 100));
      }
    }

    // ---- source -----------------------------------------------------------------------------
    var hls = null;
    if (window.Hls && window.Hls.isSupported()) {
      hls = new window.Hls({ maxBufferLength: 30, capLevelToPlayerSize: true });
      hls.loadSource(src);
      hls.attachMedia(video);
      hls.on(window.Hls.Events.MANIFEST_PARSED, function () {
        hls.levels.forEach(function (lv, i) {
          var o = document.createElement("option");
          o.value = String(i);
          o.textContent = (lv.height ? lv.height + "p" : (Math.round(lv.bitrate / 1000) + "k"));
          quality.appendChild(o);
        });
        if (hls.levels.length > 1) { qualityWrap.hidden = false; }
      });
      hls.on(window.Hls.Events.ERROR, function (_e, data) {
        if (!data.fatal) { return; }
        if (data.type === window.Hls.ErrorTypes.NETWORK_ERROR) { say("error"); hls.startLoad(); }
        else if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); }
        else { say("error"); }
      });
      quality.addEventListener("change", function () {
        hls.currentLevel = parseInt(quality.value, 10);  // -1 = automatic
      });
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = src;  // iOS Safari: native HLS chooses the resolution itself
    } else {
      say("unsupported");
      return;
    }

    // ---- speed ----------------------------------------------------------------------------------
    speedSel.addEventListener("change", function () {
      video.playbackRate = Math.min(rules.maxSpeed, parseFloat(speedSel.value) || 1);
    });
    video.addEventListener("ratechange", function () {
      if (video.playbackRate > rules.maxSpeed) { video.playbackRate = rules.maxSpeed; return; }
      if (st.playing) { send("progress"); }
    });

    // ---- reporting ------------------------------------------------------------------------------
    var queue = Promise.resolve();
    function send(verb, extra, keepalive) {
      if (!track || !st.eventsUrl) { return queue; }
      var body = { verb: verb, time: video.currentTime, speed: video.playbackRate, playing: !video.paused };
      if (extra) { Object.keys(extra).forEach(function (k) { body[k] = extra[k]; }); }
      var url = st.eventsUrl;
      if (keepalive) {  // leaving the page: send now, not behind the queue
        fetch(url, { method: "POST", credentials: "same-origin", keepalive: true,
          headers: { "Content-Type": "application/json", "X-CSRFToken": window.LMS.csrfToken },
          body: JSON.stringify(body) }).catch(function () {});
        return queue;
      }
      queue = queue.then(function () {
        return fetch(url, {
          method: "POST", credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": window.LMS.csrfToken, "Accept": "application/json" },
          body: JSON.stringify(body)
        }).then(function (r) {
          return r.json().then(function (d) {
            if (d.error && !d.refused) { notice.textContent = d.error; return; }
            paint(d);
            if (d.refused) {
              notice.textContent = d.message || notice.getAttribute("data-msg-seek");
              st.restoring = true;
              video.currentTime = d.furthest;
              st.lastTime = d.furthest;
            }
          });
        }).catch(function () { say("offline"); });
      });
      return queue;
    }

    function allowedUpTo() { return Math.max(st.furthest, st.localFurthest || 0) + 1; }

    if (track) {
      window.LMS.postJSON(root.getAttribute("data-session-url"), {})
        .then(function (r) { return r.json(); })
        .then(function (d) {
          if (!d.session) { if (d.error) { notice.textContent = d.error; } return; }
          st.session = d.session; st.eventsUrl = d.events_url;
          st.localFurthest = d.furthest;
          paint(d);
          if (d.position > 1 && (!d.duration || d.position < d.duration - 2)) { st.resumeAt = d.position; }
          if (video.readyState >= 1) { resume(); }
        });
    }
    function resume() {
      if (st.resumeAt > 0) {
        st.restoring = true;
        video.currentTime = st.resumeAt;
        st.lastTime = st.resumeAt;
        st.resumeAt = 0;
        say("resume");
      }
    }
    video.addEventListener("loadedmetadata", function () { if (st.session) { resume(); } });

    video.addEventListener("play", function () {
      st.lastTick = null;
      if (!st.playing) { st.playing = true; send("played"); }
    });
    video.addEventListener("pause", function () {
      if (!st.playing) { return; }
      st.playing = false;
      send(video.ended ? "ended" : "paused");
    });
    video.addEventListener("timeupdate", function () {
      if (video.seeking) { return; }
      var t = video.currentTime;
      if (st.playing && t >= st.lastTime && t - st.lastTime < 2.5 * Math.max(1, video.playbackRate)) {
        st.localFurthest = Math.max(st.localFurthest || 0, t);
      }
      st.lastTime = t;
      if (st.playing) {
        var now = Date.now();
        if (st.lastTick) { st.watchedSincePresence += (now - st.lastTick) / 1000; }
        st.lastTick = now;
        checkPresence();
      }
    });
    video.addEventListener("seeking", function () {
      if (st.restoring) { return; }
      if (rules.noSeek && !st.completed && video.currentTime > allowedUpTo()) {
        say("seek");
        st.restoring = true;
        video.currentTime = Math.max(0, Math.min(st.lastTime, allowedUpTo() - 1));
      }
    });
    video.addEventListener("seeked", function () {
      if (st.restoring) { st.restoring = false; return; }
      var from = st.lastTime, to = video.currentTime;
      if (Math.abs(to - from) < 0.5) { return; }
      st.lastTime = to;
      send("seeked", { time_from: from, time_to: to });
    });

    // Report position while playing, so a closed laptop lid loses at most a few seconds.
    setInterval(function () { if (st.playing && !video.seeking) { send("progress"); } }, 10000);

    // ---- watching rules ---------------------------------------------------------------------------
    document.addEventListener("visibilitychange", function () {
      if (document.hidden && rules.pauseHidden && !video.paused) {
        video.pause();
        say("hidden");
      }
    });
    function checkPresence() {
      if (!rules.presenceMinutes || !presence) { return; }
      if (st.watchedSincePresence >= rules.presenceMinutes * 60) {
        st.watchedSincePresence = 0;
        video.pause();
        if (typeof presence.showModal === "function") { presence.showModal(); }
        else if (window.confirm(presence.querySelector("p").textContent)) { video.play(); }
      }
    }
    if (presence) {
      presence.addEventListener("close", function () { st.lastTick = null; video.play(); });
    }

    // Leaving the page ends the session (keepalive lets the request outlive the page).
    window.addEventListener("pagehide", function () {
      if (st.session) { st.playing = false; send("terminated", null, true); }
    });
  }

  // lms.js (window.LMS) is deferred after this file: start once every deferred script has run.
  function start() { document.querySelectorAll("[data-ml-player]").forEach(init); }
  if (window.LMS && window.LMS.postJSON) { start(); } else { document.addEventListener("DOMContentLoaded", start); }
})();
