// Package promtest reads what a /metrics endpoint serves, for the tests
// of the metrics package and of the daemon.
package promtest

import (
	"bytes"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Families is an exposition parsed, by family name.
type Families map[string]*dto.MetricFamily

// Parse parses body, in the Prometheus text format, failing t if it does
// not parse.
func Parse(t testing.TB, body []byte) Families {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return families
}

// Value is the value of family name's series with the given labels (name,
// value, ...; others ignored), and whether there is one: a counter's or a
// gauge's value, a histogram's sample count.
func (f Families) Value(name string, labels ...string) (float64, bool) {
	for _, m := range f[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && have[labels[i]] == labels[i+1]
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}
