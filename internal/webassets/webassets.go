// Package webassets holds the front-end libraries the HTML report and the dashboard embed in
// the pages they write, so that a page opens with no network: uPlot (MIT, from npm, version in
// UPlotVersion), a small, maintained charting library for time series. The files are vendored
// as npm ships them; update them with `npm pack uplot@VERSION` and copy dist/uPlot.iife.min.js,
// dist/uPlot.min.css and LICENSE here.
package webassets

import _ "embed"

// UPlotVersion is the version of uPlot vendored here.
const UPlotVersion = "1.6.32"

// UPlotJS is uPlot's minified script; it defines the global uPlot.
//
//go:embed uplot/uPlot.iife.min.js
var UPlotJS string

// UPlotCSS is uPlot's style sheet.
//
//go:embed uplot/uPlot.min.css
var UPlotCSS string

// UPlotLicense is uPlot's licence, to be kept with any copy of it.
//
//go:embed uplot/LICENSE
var UPlotLicense string
