// Site-wide behaviour; no inline scripts anywhere (the CSP forbids them).
(function () {
  "use strict";
  // Buttons/links with data-confirm ask before submitting.
  document.addEventListener("click", function (ev) {
    var el = ev.target.closest("[data-confirm]");
    if (el && !window.confirm(el.getAttribute("data-confirm"))) {
      ev.preventDefault();
    }
  });
  // <select data-autosubmit> submits its form on change (filters).
  document.addEventListener("change", function (ev) {
    var el = ev.target;
    if (el.matches && el.matches("[data-autosubmit]") && el.form) { el.form.submit(); }
  });
  // Expose the CSRF token for fetch() calls of plugins.
  var meta = document.querySelector('meta[name="csrf-token"]');
  window.LMS = window.LMS || {};
  window.LMS.csrfToken = meta ? meta.getAttribute("content") : "";
  window.LMS.postJSON = function (url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": window.LMS.csrfToken },
      body: JSON.stringify(body)
    });
  };
})();
