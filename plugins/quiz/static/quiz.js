// Taking a quiz: autosave (with a local copy while offline), the server-fixed countdown, practice checks.
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function countdown(el, deadline, serverNow, onZero, longFormat) {
    var offset = serverNow - Date.now();
    var fired = false;
    function tick() {
      var left = Math.max(0, Math.round((deadline - (Date.now() + offset)) / 1000));
      if (longFormat) {
        var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
        el.textContent = (h ? h + ":" : "") + pad(m) + ":" + pad(s);
      } else {
        el.textContent = left + "s";
      }
      el.classList.toggle("quiz-timer-low", left <= 60);
      if (left <= 0 && !fired) { fired = true; onZero(); return; }
      if (!fired) { window.setTimeout(tick, 250); }
    }
    tick();
  }

  // --- challenge / daily run ------------------------------------------------------------------------
  var run = document.getElementById("quiz-run");
  if (run && run.dataset.deadline) {
    countdown(document.getElementById("quiz-timer"), Number(run.dataset.deadline), Number(run.dataset.now),
      function () { run.submit(); }, false);
  }

  // --- attempt --------------------------------------------------------------------------------------
  var form = document.getElementById("quiz-form");
  if (!form) { return; }
  var ds = form.dataset;
  var storeKey = "lms-quiz-attempt-" + ds.attempt;
  var status = document.getElementById("quiz-status");
  var dirty = {};     // qid -> version not yet saved
  var version = 0;
  var saving = false;
  var timer = null;
  var backoff = 0;
  var submitting = false;
  var interval = Number(ds.autosaveMs) || 3000;
  var lastSave = 0;

  function setStatus(text, cls) {
    if (!status) { return; }
    status.textContent = text;
    status.className = "quiz-status small" + (cls ? " " + cls : "");
  }

  function fieldsetOf(qid) { return form.querySelector('fieldset[data-qid="' + qid + '"]'); }

  function responseOf(fs) {
    var name = "q" + fs.dataset.qid;
    switch (fs.dataset.type) {
      case "single": {
        var r = fs.querySelector('input[name="' + name + '"]:checked');
        return r ? Number(r.value) : null;
      }
      case "multiple":
        return Array.prototype.map.call(fs.querySelectorAll('input[name="' + name + '"]:checked'),
          function (i) { return Number(i.value); });
      case "truefalse": {
        var t = fs.querySelector('input[name="' + name + '"]:checked');
        return t ? t.value === "true" : null;
      }
      case "fill":
        return Array.prototype.map.call(fs.querySelectorAll('input[type="text"]'), function (i) { return i.value; });
      default: {
        var ta = fs.querySelector("textarea");
        return ta ? ta.value : "";
      }
    }
  }

  function apply(fs, value) {
    var name = "q" + fs.dataset.qid;
    var type = fs.dataset.type;
    if (type === "single" || type === "truefalse") {
      fs.querySelectorAll('input[name="' + name + '"]').forEach(function (i) {
        i.checked = value !== null && String(value) === i.value;
      });
    } else if (type === "multiple") {
      var set = (value || []).map(String);
      fs.querySelectorAll('input[name="' + name + '"]').forEach(function (i) { i.checked = set.indexOf(i.value) >= 0; });
    } else if (type === "fill") {
      fs.querySelectorAll('input[type="text"]').forEach(function (i, n) { i.value = (value || [])[n] || ""; });
    } else {
      var ta = fs.querySelector("textarea");
      if (ta) { ta.value = value || ""; }
    }
  }

  function isBlank(fs) {
    var v = responseOf(fs);
    if (v === null || v === "") { return true; }
    if (Array.isArray(v)) { return !v.some(function (x) { return x !== "" && x !== null; }); }
    return typeof v === "string" && !v.trim();
  }

  function readStore() {
    try { return JSON.parse(window.localStorage.getItem(storeKey) || "{}"); } catch (e) { return {}; }
  }
  function writeStore() {
    var pending = {};
    Object.keys(dirty).forEach(function (qid) { pending[qid] = responseOf(fieldsetOf(qid)); });
    try {
      if (Object.keys(pending).length) { window.localStorage.setItem(storeKey, JSON.stringify(pending)); }
      else { window.localStorage.removeItem(storeKey); }
    } catch (e) { /* private mode: the server copy is what counts */ }
  }

  function schedule(delay) {
    if (timer) { window.clearTimeout(timer); }
    timer = window.setTimeout(save, delay);
  }

  function save() {
    timer = null;
    if (saving || submitting) { return; }
    var qids = Object.keys(dirty);
    if (!qids.length) { return; }
    var wait = interval - (Date.now() - lastSave);
    if (wait > 0 && backoff === 0) { schedule(wait); return; }
    var sent = {};
    var answers = {};
    qids.forEach(function (qid) { sent[qid] = dirty[qid]; answers[qid] = responseOf(fieldsetOf(qid)); });
    saving = true;
    lastSave = Date.now();
    setStatus(ds.msgSaving);
    window.LMS.postJSON(ds.saveUrl, { answers: answers }).then(function (resp) {
      return resp.json().then(function (body) { return { ok: resp.ok, status: resp.status, body: body }; });
    }).then(function (res) {
      saving = false;
      if (res.ok) {
        backoff = 0;
        qids.forEach(function (qid) { if (dirty[qid] === sent[qid]) { delete dirty[qid]; } });
        writeStore();
        var d = new Date();
        setStatus(ds.msgSaved + " " + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()), "quiz-ok");
        if (Object.keys(dirty).length) { schedule(interval); }
      } else if (res.status === 409 && res.body && res.body.result_url) {
        try { window.localStorage.removeItem(storeKey); } catch (e) { /* ignore */ }
        setStatus(res.body.error || "", "quiz-err");
        window.location.assign(res.body.result_url);
      } else {
        setStatus((res.body && res.body.error) || ds.msgOffline, "quiz-err");
      }
    }).catch(function () {
      saving = false;
      backoff = Math.min(30000, backoff ? backoff * 2 : 2000);
      setStatus(ds.msgOffline, "quiz-err");
      schedule(backoff);
    });
  }

  function changed(ev) {
    var fs = ev.target.closest("fieldset[data-qid]");
    if (!fs) { return; }
    version += 1;
    dirty[fs.dataset.qid] = version;
    writeStore();
    schedule(ev.type === "input" && ev.target.type !== "radio" && ev.target.type !== "checkbox" ? 1200 : 300);
  }
  // A member reading for a long time keeps the login session (30 min idle limit) and learns early
  // when the server closed the attempt: an empty save every few minutes writes nothing.
  window.setInterval(function () {
    if (submitting || saving || Date.now() - lastSave < 240000) { return; }
    lastSave = Date.now();
    window.LMS.postJSON(ds.saveUrl, { answers: {} }).then(function (resp) {
      if (resp.status === 409) {
        return resp.json().then(function (body) { if (body.result_url) { window.location.assign(body.result_url); } });
      }
      return null;
    }).catch(function () { setStatus(ds.msgOffline, "quiz-err"); });
  }, 60000);
  form.addEventListener("change", changed);
  form.addEventListener("input", changed);
  window.addEventListener("online", function () { backoff = 0; schedule(0); });

  // Answers typed while offline (or before a crash) that never reached the server come back first.
  var pending = readStore();
  Object.keys(pending).forEach(function (qid) {
    var fs = fieldsetOf(qid);
    if (fs && !fs.querySelector("input:disabled, textarea:disabled")) {
      apply(fs, pending[qid]);
      version += 1;
      dirty[qid] = version;
    }
  });
  if (Object.keys(dirty).length) { backoff = 1; schedule(0); }

  form.addEventListener("submit", function (ev) {
    if (submitting) { ev.preventDefault(); return; }
    var blank = Array.prototype.filter.call(form.querySelectorAll("fieldset[data-qid]"), isBlank).length;
    var msg = blank ? ds.msgConfirm.replace("{n}", blank) : ds.msgConfirmAll;
    if (!window.confirm(msg)) { ev.preventDefault(); return; }
    submitting = true;
    try { window.localStorage.removeItem(storeKey); } catch (e) { /* ignore */ }
    document.getElementById("quiz-submit").disabled = true;
  });

  if (ds.deadline) {
    countdown(document.getElementById("quiz-timer"), Number(ds.deadline), Number(ds.now), function () {
      if (submitting) { return; }
      submitting = true;
      setStatus(ds.msgTimeup, "quiz-err");
      try { window.localStorage.removeItem(storeKey); } catch (e) { /* ignore */ }
      form.submit();  // the form carries every answer; the server keeps the deadline
    }, true);
  }

  // Practice mode: check one question, show the key and the explanation, lock it.
  form.addEventListener("click", function (ev) {
    var btn = ev.target.closest(".quiz-check");
    if (!btn) { return; }
    var fs = btn.closest("fieldset[data-qid]");
    btn.disabled = true;
    window.LMS.postJSON(ds.checkUrl, { question_id: Number(fs.dataset.qid), response: responseOf(fs) })
      .then(function (resp) { return resp.json().then(function (b) { return { ok: resp.ok, body: b }; }); })
      .then(function (res) {
        var box = fs.querySelector(".quiz-feedback");
        box.textContent = "";
        if (!res.ok) { btn.disabled = false; box.textContent = res.body.error || ""; return; }
        var fb = res.body.feedback;
        var p = document.createElement("p");
        p.className = fb.correct ? "quiz-good" : "quiz-bad";
        p.textContent = (fb.correct ? ds.msgCorrect : ds.msgWrong) + " · " + ds.msgKey + "：" + fb.key;
        box.appendChild(p);
        if (fb.explanation) {
          var e = document.createElement("p");
          e.className = "small";
          e.textContent = ds.msgExplanation + "：" + fb.explanation;
          box.appendChild(e);
        }
        delete dirty[fs.dataset.qid];
        writeStore();
        fs.querySelectorAll("input, textarea").forEach(function (i) { i.disabled = true; });
        btn.remove();
      })
      .catch(function () { btn.disabled = false; setStatus(ds.msgOffline, "quiz-err"); });
  });
})();
