/* Monthly net spending chart of the consumption report (vendored Chart.js).
 * The data comes from the page (json_script "monthly-data"): months and the
 * net paid per month as decimal strings; they become numbers only for drawing,
 * while tooltips show the server's decimal strings as yuan (paid, refunded, net). */
(function () {
  "use strict";
  var script = document.currentScript;
  var source = document.getElementById("monthly-data");
  var canvas = document.getElementById("monthly-chart");
  if (!source || !canvas || typeof Chart === "undefined") return;
  var points = JSON.parse(source.textContent);
  var label = (script && script.getAttribute("data-label")) || "Net paid";
  var paidLabel = (script && script.getAttribute("data-paid-label")) || "Paid";
  var refundedLabel = (script && script.getAttribute("data-refunded-label")) || "Refunded";

  function yuan(text) {
    var negative = text.charAt(0) === "-";
    var digits = negative ? text.slice(1) : text;
    var parts = digits.split(".");
    var whole = parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (negative ? "-" : "") + "¥" + whole + "." + ((parts[1] || "") + "00").slice(0, 2);
  }

  var chart = new Chart(canvas, {
    type: "bar",
    data: {
      labels: points.map(function (p) { return p.month; }),
      datasets: [{
        label: label,
        data: points.map(function (p) { return Number(p.net_paid); }),
        backgroundColor: "rgba(13, 110, 253, 0.6)",
        borderColor: "rgb(13, 110, 253)",
        borderWidth: 1
      }]
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: {
        legend: { display: false },
        tooltip: {
          callbacks: {
            label: function (ctx) { return label + ": " + yuan(points[ctx.dataIndex].net_paid); },
            footer: function (items) {
              var p = points[items[0].dataIndex];
              return paidLabel + ": " + yuan(p.paid) + "\n" + refundedLabel + ": " + yuan(p.refunded);
            }
          }
        }
      },
      scales: {
        y: {
          beginAtZero: true,
          suggestedMax: 100,
          ticks: { precision: 0, callback: function (v) { return "¥" + v.toLocaleString(); } }
        }
      }
    }
  });
  canvas.setAttribute("data-chart-ready", "true");
  window.monthlyChart = chart;
})();
