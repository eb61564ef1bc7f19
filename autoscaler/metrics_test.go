package autoscaler

import (
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/testenv"
)

// TestCollector: rounds, their time, decisions by action and mode and rule errors reach the
// collector. The policy's first rule fails at run time (an index out of range), so every scaling
// run counts a rule error.
func TestCollector(t *testing.T) {
	failing := `rules:
  - name: broken
    required: '[1, 2][active + 5]'
`
	s := newSim(t, buildSet(t, scalingPolicies("round-robin", "enforce", failing)), nil)
	s.pattern = func(time.Duration) (float64, float64) { return 80, 80 }
	register(t, s.a, 2, 6)
	s.advance(epoch.Add(4 * time.Minute))

	got := testenv.Gather(t, s.a.Collector())
	for _, name := range []string{
		"strata_autoscaler_rounds_total",
		"strata_autoscaler_evaluations_total",
		"strata_autoscaler_round_seconds_count",
		"strata_autoscaler_rule_errors_total",
		`strata_autoscaler_decisions_total{action="min",mode="enforce"}`,
		"strata_autoscaler_actions_total",
		"strata_autoscaler_cluster_instances",
		"strata_autoscaler_members",
	} {
		if got[name] <= 0 {
			t.Errorf("%s = %v, want > 0", name, got[name])
		}
	}
	if got["strata_autoscaler_round_seconds_count"] != got["strata_autoscaler_rounds_total"] {
		t.Errorf("%v round times for %v rounds", got["strata_autoscaler_round_seconds_count"], got["strata_autoscaler_rounds_total"])
	}
	var decisions float64
	for k, v := range got {
		if strings.HasPrefix(k, "strata_autoscaler_decisions_total{") {
			decisions += v
		}
	}
	if st := s.a.Stats(); decisions != float64(st.Decisions) {
		t.Errorf("decisions by action sum to %v, Stats.Decisions is %d", decisions, st.Decisions)
	}
	if _, ok := got[`strata_autoscaler_decisions_total{action="scale-down",mode="shadow"}`]; !ok {
		t.Error("the decision counters are not resolved up front")
	}
}

// TestMetricsAllocs pins counting a decision and a round at 0 allocations.
func TestMetricsAllocs(t *testing.T) {
	m := newMetrics()
	if n := testing.AllocsPerRun(100, func() {
		m.decision("enforce", ActionScaleUp)
		m.decision("shadow", "something new")
		m.round(3, time.Millisecond)
	}); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}
