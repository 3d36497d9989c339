// The charts of shakedown's HTML report, drawn by uPlot from the run data in the page's
// #shakedown-data block (times in seconds since each run's start, series as columns).
//
// Every chart of a run shares its phases (bands along the top), its faults' windows (shaded
// and labelled) and its marks (alert fired, fault reverted, steady state back): a small uPlot
// plugin draws them through uPlot's hooks, under and over the series. Each check's bound is
// drawn as a line on the chart of the metric it bounds. What a chart drew is kept on it
// (plot.shakedown, in CSS pixels from the plotting area's corner, as uPlot's valToPos gives
// them) and every chart is listed in window.shakedownCharts, for tests to read back;
// document.body.dataset.charts becomes "drawn" once every chart has drawn, and
// window.shakedownDrawnAt says when (ms since the page's navigation began).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("shakedown-data").textContent);
  var charts = [];
  window.shakedownCharts = charts;

  var colors = {
    p50: "#0969da", p99: "#bc4c00", errors: "#cf222e", throughput: "#1a7f37",
    held: "#1a7f37", breached: "#cf222e", fault: "rgba(207,34,46,0.10)", faultLine: "rgba(207,34,46,0.55)",
    phase: ["rgba(9,105,218,0.05)", "rgba(9,105,218,0.00)"], text: "#59636e",
    bound: ["#8250df", "#bf8700", "#1b7c83", "#cf222e"],
    detect: "#8250df", revert: "#1a7f37", back: "#0969da"
  };

  // kinds say, per chart of a load, which metrics it draws and how a base-unit value of the
  // metric reads on it.
  var kinds = {
    latency: { label: "latency (ms)", unit: " ms", factor: 1000, metric: function (m) { return m.indexOf("latency.") === 0; } },
    errors: { label: "errors (% of requests)", unit: " %", factor: 100, metric: function (m) { return m === "errors"; } },
    throughput: { label: "requests per second", unit: "/s", factor: 1, metric: function (m) { return m === "throughput"; } }
  };

  function fmtSecs(v) {
    if (v == null) return "";
    var s = Math.round(v * 100) / 100;
    if (Math.abs(s) < 60) return s + "s";
    var m = Math.floor(s / 60), r = Math.round(s - 60 * m);
    return m + "m" + (r ? r + "s" : "");
  }

  function fmtNum(v, digits) {
    return v == null ? "-" : (Math.round(v * Math.pow(10, digits)) / Math.pow(10, digits)).toString();
  }

  // label writes text just right of x, or just left of it where it would leave the plotting
  // area b.
  function label(ctx, b, text, x, y, px) {
    if (x + 3 * px + ctx.measureText(text).width > b.left + b.width) {
      ctx.textAlign = "right";
      ctx.fillText(text, x - 3 * px, y);
      ctx.textAlign = "left";
    } else {
      ctx.fillText(text, x + 3 * px, y);
    }
  }

  // overlay is the plugin that draws a run's phases, fault windows, marks and bounds.
  function overlay(run, bounds) {
    function x(u, v) { return u.valToPos(v, "x", true); }
    function drawn(u) {
      return u.shakedown || (u.shakedown = { phases: [], faults: [], marks: [], bounds: [] });
    }
    return {
      hooks: {
        drawClear: function (u) {
          var ctx = u.ctx, b = u.bbox, px = devicePixelRatio || 1, d = drawn(u);
          d.phases = []; d.faults = [];
          ctx.save();
          ctx.beginPath();
          ctx.rect(b.left, b.top, b.width, b.height);
          ctx.clip();
          ctx.font = (10 * px) + "px sans-serif";
          ctx.textBaseline = "top";
          run.phases.forEach(function (p, i) {
            var x0 = x(u, p.from), x1 = x(u, p.to);
            ctx.fillStyle = colors.phase[i % 2];
            ctx.fillRect(x0, b.top, x1 - x0, b.height);
            ctx.fillStyle = colors.text;
            if (ctx.measureText(p.name).width + 6 * px <= x1 - x0) ctx.fillText(p.name, x0 + 3 * px, b.top + 2 * px);
            d.phases.push({ name: p.name, from: p.from, to: p.to, x0: (x0 - b.left) / px, x1: (x1 - b.left) / px });
          });
          run.faults.forEach(function (f, i) {
            var x0 = x(u, f.from), x1 = x(u, f.to);
            ctx.fillStyle = colors.fault;
            ctx.fillRect(x0, b.top, x1 - x0, b.height);
            ctx.strokeStyle = colors.faultLine;
            ctx.lineWidth = px;
            ctx.strokeRect(x0, b.top, x1 - x0, b.height);
            ctx.fillStyle = colors.errors;
            label(ctx, b, f.name + (f.open ? " (not reverted)" : ""), x0, b.top + (14 + 12 * i) * px, px);
            d.faults.push({ name: f.name, from: f.from, to: f.to, open: !!f.open, x0: (x0 - b.left) / px, x1: (x1 - b.left) / px });
          });
          ctx.restore();
        },
        draw: function (u) {
          var ctx = u.ctx, b = u.bbox, px = devicePixelRatio || 1, d = drawn(u);
          d.marks = []; d.bounds = [];
          ctx.save();
          ctx.beginPath();
          ctx.rect(b.left, b.top, b.width, b.height);
          ctx.clip();
          ctx.font = (10 * px) + "px sans-serif";
          ctx.lineWidth = px;
          (bounds || []).forEach(function (bd) {
            var y = u.valToPos(bd.value, "y", true), x0 = x(u, bd.from), x1 = x(u, bd.to);
            ctx.strokeStyle = ctx.fillStyle = colors.bound[bd.color % colors.bound.length];
            ctx.setLineDash([6 * px, 4 * px]);
            ctx.beginPath();
            ctx.moveTo(x0, y);
            ctx.lineTo(x1, y);
            ctx.stroke();
            ctx.setLineDash([]);
            ctx.textBaseline = "bottom";
            ctx.textAlign = "right";
            ctx.fillText(bd.label, Math.min(x1, b.left + b.width) - 3 * px, y - 2 * px);
            ctx.textAlign = "left";
            d.bounds.push({ label: bd.label, value: bd.value, from: bd.from, to: bd.to, y: (y - b.top) / px, x0: (x0 - b.left) / px, x1: (x1 - b.left) / px });
          });
          run.marks.forEach(function (m, i) {
            var xm = x(u, m.t);
            ctx.strokeStyle = ctx.fillStyle = colors[m.kind] || colors.text;
            ctx.setLineDash([2 * px, 3 * px]);
            ctx.beginPath();
            ctx.moveTo(xm, b.top);
            ctx.lineTo(xm, b.top + b.height);
            ctx.stroke();
            ctx.setLineDash([]);
            ctx.textBaseline = "bottom";
            label(ctx, b, m.label, xm, b.top + b.height - (4 + 12 * (i % 4)) * px, px);
            d.marks.push({ kind: m.kind, label: m.label, t: m.t, x: (xm - b.left) / px });
          });
          ctx.restore();
        }
      }
    };
  }

  function xAxis() {
    return { label: "seconds since the start", values: function (u, splits) { return splits.map(fmtSecs); } };
  }

  function baseOptions(el, run, runIndex, title, bounds) {
    return {
      title: title,
      width: Math.max(320, el.clientWidth),
      height: 220,
      cursor: { sync: { key: "run-" + runIndex } },
      scales: { x: { time: false, range: function () { return [0, Math.max(run.end, 1)]; } } },
      plugins: [overlay(run, bounds)],
      hooks: { draw: [function (u) { if (!u.shakedownDrawn) { u.shakedownDrawn = true; done(); } }] },
      legend: { live: true }
    };
  }

  // loadChart draws one of a load's charts: latency, errors or throughput, with the samples
  // and bounds of the checks on its metrics.
  function loadChart(el, run, runIndex, load, kind) {
    var k = kinds[kind], t = load.t, cols = [], series = [{ label: "time", value: function (u, v) { return fmtSecs(v); } }];
    if (kind === "latency") {
      cols.push(load.p50, load.p99);
      series.push({ label: "p50", stroke: colors.p50, width: 1.5, spanGaps: true, value: function (u, v) { return fmtNum(v, 1) + " ms"; } });
      series.push({ label: "p99", stroke: colors.p99, width: 1.5, spanGaps: true, value: function (u, v) { return fmtNum(v, 1) + " ms"; } });
    } else if (kind === "errors") {
      cols.push(load.count.map(function (n, i) { return n > 0 ? 100 * load.errors[i] / n : null; }));
      series.push({ label: "error rate", stroke: colors.errors, width: 1.5, spanGaps: true, value: function (u, v) { return fmtNum(v, 2) + " %"; } });
    } else {
      cols.push(load.count);
      series.push({ label: "requests/s", stroke: colors.throughput, width: 1.5, spanGaps: true, value: function (u, v) { return fmtNum(v, 0) + "/s"; } });
    }
    var tables = [[t].concat(cols)], bounds = [], top = 0, color = 0;
    run.checks.forEach(function (c) {
      if (c.load !== load.name || !c.metric || !k.metric(c.metric)) return;
      var vals = c.value.map(function (v) { return v == null ? null : v * k.factor; }), ci = color++;
      if (vals.some(function (v) { return v != null; })) {
        tables.push([c.t, vals]);
        series.push({ label: c.name + " (samples)", stroke: colors.bound[ci % colors.bound.length], width: 0,
          paths: function () { return null; }, points: { show: true, size: 5 }, value: function (u, v) { return fmtNum(v, 2) + k.unit; } });
      }
      ["max", "min"].forEach(function (side) {
        var last = null;
        c.bounds.forEach(function (b) {
          if (b[side] == null) { last = null; return; }
          var v = b[side] * k.factor;
          top = Math.max(top, v);
          var same = last && last.value === v && Math.abs(last.to - b.from) < 0.5;
          if (same) { last.to = b.to; return; }
          last = { label: c.name + ": " + side + " " + fmtNum(v, 2) + k.unit, value: v, from: b.from, to: b.to, color: ci };
          bounds.push(last);
        });
      });
    });
    var joined = tables.length > 1 ? uPlot.join(tables) : tables[0];
    var opts = baseOptions(el, run, runIndex, load.name + ": " + k.label, bounds);
    opts.series = series;
    opts.scales.y = { range: function (u, lo, hi) { return [0, Math.max(hi || 0, top) * 1.25 || 1]; } };
    opts.axes = [xAxis(), { label: k.label, size: 60 }];
    return new uPlot(opts, joined, el);
  }

  // checksChart draws every check's samples over time: one row per check, a point per
  // sample, green where it held and red where it was breached. The list under it says what
  // each check saw last before the cursor (its value, or what the probe said).
  function checksChart(el, run, runIndex) {
    // One x slot per sample, not per distinct time: times are in milliseconds, and a phase's
    // last sample and the next phase's first can share one, yet both are points.
    var samples = [];
    run.checks.forEach(function (c, ci) {
      c.t.forEach(function (t, j) { samples.push({ t: t, check: ci, held: c.held[j] }); });
    });
    samples.sort(function (a, b) { return a.t - b.t || a.check - b.check; });
    var times = samples.map(function (s) { return s.t; });
    var cols = [times], series = [{ label: "time", value: function (u, v) { return fmtSecs(v); } }], names = [];
    run.checks.forEach(function (c, ci) {
      var row = ci + 1, held = new Array(times.length).fill(null), broke = new Array(times.length).fill(null);
      samples.forEach(function (s, i) { if (s.check === ci) { (s.held ? held : broke)[i] = row; } });
      names.push(c.name);
      cols.push(held, broke);
      series.push({ label: c.name + " held", stroke: colors.held, width: 0, paths: function () { return null; },
        points: { show: true, size: 7, fill: colors.held } });
      series.push({ label: c.name + " breached", stroke: colors.breached, width: 0, paths: function () { return null; },
        points: { show: true, size: 7, fill: colors.breached } });
    });
    var longest = names.reduce(function (n, s) { return Math.max(n, s.length); }, 0);
    var opts = baseOptions(el, run, runIndex, "check samples", []);
    opts.legend = { show: false };
    var readout = document.createElement("ul");
    readout.className = "readout";
    opts.hooks.setCursor = [function (u) { showSamples(readout, run.checks, u.posToVal(u.cursor.left, "x"), u.cursor.left >= 0); }];
    opts.height = Math.max(140, 70 + 26 * names.length);
    opts.series = series;
    opts.scales.y = { range: function () { return [0.5, names.length + 0.5]; } };
    opts.axes = [xAxis(), {
      size: Math.min(320, 24 + 7.5 * longest),
      splits: function () { return names.map(function (n, i) { return i + 1; }); },
      values: function (u, splits) { return splits.map(function (v) { return names[v - 1] || ""; }); },
      grid: { show: false }
    }];
    var plot = new uPlot(opts, cols, el);
    el.appendChild(readout);
    showSamples(readout, run.checks, 0, false);
    return plot;
  }

  // showSamples lists, for each check, its last sample at or before t: what it observed and
  // whether it held.
  function showSamples(list, checks, t, hover) {
    list.textContent = "";
    checks.forEach(function (c) {
      var li = document.createElement("li"), j = -1;
      for (var i = 0; i < c.t.length && c.t[i] <= t; i++) j = i;
      if (!hover) {
        var bad = c.held.filter(function (h) { return !h; }).length;
        li.textContent = c.name + ": " + c.t.length + " samples, " + bad + " breached";
      } else if (j < 0) {
        li.textContent = c.name + ": no sample yet";
      } else {
        li.textContent = c.name + " at " + fmtSecs(c.t[j]) + ": " + (c.value[j] != null ? valueText(c, c.value[j]) : c.text[j] || "-") +
          (c.held[j] ? " (held)" : " (breached)");
        if (!c.held[j]) li.className = "breached";
      }
      list.appendChild(li);
    });
  }

  function valueText(c, v) {
    if (c.unit === "duration") return fmtNum(v * 1000, 1) + " ms";
    if (c.unit === "fraction") return fmtNum(v * 100, 2) + " %";
    if (c.unit === "rate") return fmtNum(v, 1) + "/s";
    return fmtNum(v, 3);
  }

  var els = document.querySelectorAll(".chart[data-kind]");
  var pending = els.length;
  function done() {
    if (--pending === 0) {
      window.shakedownDrawnAt = performance.now();
      document.body.dataset.charts = "drawn";
    }
  }
  if (pending === 0) {
    window.shakedownDrawnAt = performance.now();
    document.body.dataset.charts = "drawn";
  }
  els.forEach(function (el) {
    var runIndex = +el.dataset.run, run = data.runs[runIndex], kind = el.dataset.kind, plot, load = null;
    if (kind === "checks") {
      plot = checksChart(el, run, runIndex);
    } else {
      load = run.loads[+el.dataset.load];
      plot = loadChart(el, run, runIndex, load, kind);
    }
    charts.push({ run: runIndex, load: load ? load.name : null, kind: kind, plot: plot });
  });

  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.plot.setSize({ width: Math.max(320, c.plot.root.parentNode.clientWidth), height: c.plot.height }); });
  });
})();
