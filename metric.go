package shakedown

import (
	"fmt"
	"strings"
)

// Metric names a measurement of a load: "<load>.latency.p99", "<load>.errors",
// "<load>.throughput".
type Metric struct {
	Load string // the load's name
	Name string // "latency.p99", "errors", "throughput", …
}

func (m Metric) String() string { return m.Load + "." + m.Name }

// Unit returns what the metric measures.
func (m Metric) Unit() Unit { return metricUnits[m.Name] }

var metricUnits = map[string]Unit{
	"latency.p50":  UnitDuration,
	"latency.p90":  UnitDuration,
	"latency.p95":  UnitDuration,
	"latency.p99":  UnitDuration,
	"latency.max":  UnitDuration,
	"latency.mean": UnitDuration,
	"errors":       UnitFraction,
	"throughput":   UnitRate,
}

// Quantile returns the percentile a latency metric names (100 for the maximum), and 0 for
// the others.
func (m Metric) Quantile() float64 { return metricQuantiles[m.Name] }

var metricQuantiles = map[string]float64{
	"latency.p50": 50,
	"latency.p90": 90,
	"latency.p95": 95,
	"latency.p99": 99,
	"latency.max": 100,
}

// MetricNames lists the metric names a load has, without the load's name.
func MetricNames() []string {
	return []string{"latency.p50", "latency.p90", "latency.p95", "latency.p99", "latency.max",
		"latency.mean", "errors", "throughput"}
}

// ParseMetric splits "<load>.<metric>" and checks that the metric exists. It does not check
// that the load exists.
func ParseMetric(s string) (Metric, error) {
	for _, n := range MetricNames() {
		if load, ok := strings.CutSuffix(s, "."+n); ok && load != "" {
			return Metric{Load: load, Name: n}, nil
		}
	}
	return Metric{}, fmt.Errorf("unknown metric %q (want <load>.latency.{p50,p90,p95,p99,max,mean}, <load>.errors or <load>.throughput)", s)
}
