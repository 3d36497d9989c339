package webassets

import (
	"strings"
	"testing"
)

func TestUPlotIsVendored(t *testing.T) {
	if !strings.Contains(UPlotJS, "uPlot") || len(UPlotJS) < 10_000 {
		t.Fatalf("uPlot's script is missing or cut (%d bytes)", len(UPlotJS))
	}
	if !strings.Contains(UPlotCSS, ".uplot") {
		t.Fatal("uPlot's style sheet is missing")
	}
	if !strings.Contains(UPlotLicense, "MIT License") {
		t.Fatal("uPlot's licence is missing")
	}
}
