// The dashboard's own script: an experiment's trends drawn with uPlot from the page's JSON
// block, and the stop form of a running run. No inline handlers: everything is bound here.
"use strict";
(function () {
  // Read by the browser tests: what each chart was given to draw.
  window.shakedownCharts = [];

  function drawTrends() {
    var el = document.getElementById("trend-data");
    if (!el) return;
    var data = JSON.parse(el.textContent);
    var runs = data.runs; // oldest first
    var xs = runs.map(function (_, i) { return i; });
    var colours = { p99: "#0969da", errors: "#cf222e", detect: "#8250df", recover: "#1a7f37" };
    data.charts.forEach(function (c) {
      var fig = document.querySelector('figure.chart[data-key="' + CSS.escape(c.key) + '"]');
      if (!fig) return;
      var regressed = c.values.map(function (v, i) { return c.regressed[i] ? v : null; });
      var opts = {
        width: Math.max(320, fig.clientWidth - 16), height: 220,
        legend: { show: false },
        cursor: { points: { size: 8 }, drag: { x: false, y: false } },
        // One x per run, oldest first: ticks only on whole runs, half a run of room at each end.
        scales: { x: { time: false, range: function () { return [-0.5, runs.length - 0.5]; } } },
        axes: [
          { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], space: 80,
            values: function (u, splits) {
              return splits.map(function (i) { var r = runs[i]; return r && Number.isInteger(i) ? r.label : ""; });
            } },
          { label: c.unit, size: 60 }
        ],
        series: [
          {},
          { label: c.title, stroke: colours[c.group] || "#0969da", width: 1.5, spanGaps: true, points: { show: true, size: 5 } },
          { label: "regressed", stroke: "#cf222e", fill: "#cf222e", width: 0, points: { show: true, size: 11, fill: "#cf222e", stroke: "#cf222e" } }
        ]
      };
      var u = new uPlot(opts, [xs, c.values, regressed], fig);
      u.over.addEventListener("click", function () {
        var i = u.cursor.idx;
        if (i != null && runs[i]) window.location.href = runs[i].url;
      });
      window.shakedownCharts.push({ key: c.key, points: u.data[1].length, values: u.data[1], regressed: regressed.filter(function (v) { return v != null; }).length });
    });
  }

  function bindStop() {
    var form = document.getElementById("stop");
    if (!form) return;
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var out = form.querySelector("output");
      var headers = { "Content-Type": "application/json" };
      var tok = form.querySelector('input[name="token"]');
      if (tok && tok.value) headers["Authorization"] = "Bearer " + tok.value.trim();
      out.textContent = "stopping…";
      fetch(form.getAttribute("action"), { method: "POST", headers: headers, credentials: "same-origin", body: "{}" })
        .then(function (resp) { return resp.json().then(function (body) { return { ok: resp.ok, body: body }; }); })
        .then(function (r) {
          out.textContent = r.ok ? "stopped: " + (r.body.by || "") : "not stopped: " + r.body.error;
          out.className = r.ok ? "ok" : "error";
        })
        .catch(function (err) { out.textContent = "not stopped: " + err; out.className = "error"; });
    });
  }

  drawTrends();
  bindStop();
})();
