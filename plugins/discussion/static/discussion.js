// Discussion pages: quote a post into the reply box, upload an image and insert its Markdown,
// like without reloading. Every form also works without this script.
(function () {
  "use strict";
  function insertAtCursor(area, text) {
    var start = area.selectionStart || 0, end = area.selectionEnd || 0, v = area.value;
    area.value = v.slice(0, start) + text + v.slice(end);
    area.selectionStart = area.selectionEnd = start + text.length;
    area.focus();
  }

  document.addEventListener("click", function (ev) {
    var q = ev.target.closest(".dquote-btn");
    if (!q) { return; }
    var form = document.querySelector("#reply form");
    if (!form) { return; }
    ev.preventDefault();
    var hidden = form.querySelector("input[name=quote_post_id]");
    if (hidden) { hidden.value = q.getAttribute("data-quote"); }
    var area = form.querySelector("textarea");
    var note = document.querySelector("#reply .dquoting");
    if (!note) {
      note = document.createElement("p");
      note.className = "small muted dquoting";
      form.parentNode.insertBefore(note, form);
    }
    note.textContent = q.getAttribute("data-text-quoting") || "";  // the page says it in the reader's language
    if (area) { area.focus(); }
    form.scrollIntoView({ behavior: "smooth", block: "center" });
  });

  document.addEventListener("change", function (ev) {
    var input = ev.target;
    if (!input.matches || !input.matches("input.dimage") || !input.files || !input.files.length) { return; }
    var form = input.form, url = form && form.getAttribute("data-upload-url");
    var area = form && form.querySelector("textarea");
    var err = form && form.querySelector(".dupload-error");
    if (!url || !area || !window.fetch || !window.FormData) { return; }
    var fd = new FormData();
    fd.append("image", input.files[0]);
    fd.append("csrf_token", window.LMS.csrfToken);
    if (err) { err.classList.add("hidden"); err.textContent = ""; }
    fetch(url, { method: "POST", body: fd, credentials: "same-origin",
                 headers: { "Accept": "application/json", "X-CSRFToken": window.LMS.csrfToken } })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (res) {
        if (res.ok) {
          insertAtCursor(area, "\n" + res.body.markdown + "\n");
          input.value = "";  // already uploaded: do not send it again with the form
        } else if (err) {
          err.textContent = res.body.error || form.getAttribute("data-text-upload-failed") || "";
          err.classList.remove("hidden");
        }
      })
      .catch(function () {
        if (err) { err.textContent = form.getAttribute("data-text-upload-offline") || ""; err.classList.remove("hidden"); }
      });
  });

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.classList || !form.classList.contains("dlike-form") || !window.fetch) { return; }
    ev.preventDefault();
    var btn = form.querySelector("button");
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin",
                         headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (b) {
        if (typeof b.count !== "number") { return; }
        btn.querySelector(".dlike-count").textContent = b.count;
        btn.classList.toggle("is-liked", b.liked);
        btn.setAttribute("aria-pressed", b.liked ? "true" : "false");
      });
  });
})();
