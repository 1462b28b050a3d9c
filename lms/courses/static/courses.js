// Courses and credit-hour pages: show only the parameters of the chosen credit rule kind.
(function () {
  "use strict";
  var select = document.querySelector("select[data-rule-kind]");
  if (!select) { return; }
  function sync() {
    var kind = select.value;
    document.querySelectorAll(".rule-params").forEach(function (fs) {
      var show = fs.getAttribute("data-kind") === kind;
      fs.hidden = !show;
    });
  }
  select.addEventListener("change", sync);
  sync();
})();
