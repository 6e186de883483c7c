// Time-series charts with the vendored uPlot: every <figure data-chart="URL"
// data-lines="sent deferred ..."> draws those lines from the JSON at URL (the
// `monitor.series` shape: times, counts, latency), redrawn every `data-every` ms.
(function () {
  "use strict";

  var COLOURS = {
    sent: "#1f7a3a", deferred: "#b88400", blocked: "#b3261e", bounced: "#7b3fa0",
    complaints: "#d0467f", opens: "#1c5fb8", clicks: "#0f8a8a",
    p50: "#1c5fb8", p95: "#b88400", p99: "#b3261e"
  };

  function column(data, name) {
    if (data.counts && name in data.counts) { return data.counts[name]; }
    if (data.latency && name in data.latency) { return data.latency[name]; }
    return data.times.map(function () { return null; });
  }

  function options(figure, lines) {
    var series = [{}].concat(lines.map(function (name) {
      return { label: name, stroke: COLOURS[name] || "#333", width: 1.5, spanGaps: false };
    }));
    return { width: Math.max(260, figure.clientWidth - 8), height: 180, series: series };
  }

  function draw(figure) {
    var lines = figure.dataset.lines.split(" ");
    var chart = null;
    var load = function () {
      return fetch(figure.dataset.chart, { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { figure.classList.add("stale"); return; }
          var columns = [data.times].concat(lines.map(function (n) { return column(data, n); }));
          if (chart === null) {
            chart = new uPlot(options(figure, lines), columns, figure);
          } else {
            chart.setData(columns);
          }
          figure.classList.remove("stale");
          figure.dataset.points = String(data.times.length);
        })
        .catch(function () { figure.classList.add("stale"); });
    };
    var every = Number(figure.dataset.every || "15000");
    var tick = function () {
      if (!document.hidden) { load(); }
      window.setTimeout(tick, every);
    };
    load().then(function () { window.setTimeout(tick, every); });
    window.addEventListener("resize", function () {
      if (chart !== null) { chart.setSize({ width: Math.max(260, figure.clientWidth - 8), height: 180 }); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (typeof uPlot === "undefined") { return; }
    document.querySelectorAll("figure[data-chart]").forEach(draw);
  });
})();
