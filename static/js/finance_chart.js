/* The finance dashboard's net revenue chart (Chart.js, vendored), from the
 * JSON the page carries in #net-revenue-data. */
(function () {
  "use strict";
  var source = document.getElementById("net-revenue-data");
  var canvas = document.getElementById("net-revenue-chart");
  if (!window.Chart || !source || !canvas) { return; }
  var data = JSON.parse(source.textContent);
  new window.Chart(canvas, {
    type: "bar",
    data: { labels: data.labels, datasets: [{ label: data.label, data: data.net.map(Number) }] },
    options: { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { display: true } } }
  });
})();
