package history

import (
	"math"
	"testing"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// TestCollectorMemory: the embedded store's rows written and refused records reach the
// collector, labelled backend="memory".
func TestCollectorMemory(t *testing.T) {
	t.Parallel()
	m := NewMemory(Options{})
	for i := range 5 {
		m.RecordHealth(model.HealthSample{ClusterID: "c", MemberID: "m", Metric: "x", Value: float64(i)})
	}
	m.RecordHealth(model.HealthSample{ClusterID: "c", MemberID: "m", Metric: "x", Value: math.NaN()}) // refused
	got := testenv.Gather(t, Collector(m))
	for k, v := range map[string]float64{
		`strata_history_rows_written_total{backend="memory"}`:     5,
		`strata_history_records_rejected_total{backend="memory"}`: 1,
		`strata_history_spool_bytes{backend="memory"}`:            0,
		`strata_history_write_errors_total{backend="memory"}`:     0,
		`strata_history_healthy{backend="memory"}`:                1,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}
