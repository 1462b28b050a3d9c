/* stats: draw each chart from its data-chart attribute (ECharts options built on the server). No inline script. */
(function () {
  "use strict";
  function draw() {
    if (!window.echarts) { return; }
    var charts = [];
    document.querySelectorAll(".stats-chart[data-chart]").forEach(function (el) {
      var options;
      try { options = JSON.parse(el.getAttribute("data-chart")); } catch (e) { return; }
      options.animation = !window.matchMedia || !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      options.color = options.color || ["#c8161d", "#d9a441", "#2f6fb0", "#15803d", "#7c3aed", "#6b7280"];
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(options);
      el.setAttribute("data-drawn", "1");
      charts.push(chart);
    });
    var pending = null;
    window.addEventListener("resize", function () {
      if (pending) { window.clearTimeout(pending); }
      pending = window.setTimeout(function () { charts.forEach(function (c) { c.resize(); }); }, 150);
    });
    window.addEventListener("beforeprint", function () { charts.forEach(function (c) { c.resize(); }); });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
})();
