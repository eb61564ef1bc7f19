package autoscaler

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/policies"
	"github.com/strata-paas/strata/rules"
)

// TestApplyRules pins the one rule loop (moved here from policies, whose test-only
// Autoscaling.ApplyRules did not move the verdicts when a rule changed required, unlike the
// live loop): rules run in order, a required rule moves the verdicts, a verdict rule replaces its
// verdict, and a round reusing the trace does not allocate.
func TestApplyRules(t *testing.T) {
	set := buildSet(t, scalingPolicies("round-robin", "enforce", `---
kind: AutoscalingPolicy
id: rules
loadThresholds:
  requestsInFlight: {threshold: 20}
  memoryConsumption: {threshold: 70}
  loadAverage: {threshold: 70}
rules:
  - name: floor
    required: 'required < 3 ? 3 : required' # max(required, 3) would allocate its argument list
  - name: burst
    required: 'rif.predicted > 100 ? required + 0.5 : required'
  - name: up
    scaleUp: active < required
  - name: no-down
    scaleDown: scaleDown && time.hour >= 18
`))
	pol, _ := set.Autoscaling("rules")
	ev := rules.NewEvaluator()
	env := ev.Env()
	*env = rules.Env{Active: 2, Required: 1, ScaleDown: true, RIF: rules.Metric{Predicted: 150}, Time: rules.Time{Hour: 12}}
	var tr Trace
	if n := applyRules(ev, pol, env.Active, &tr); n != 0 {
		t.Fatalf("%d rules failed: %+v", n, tr.Rules)
	}
	if env.Required != 4 || !env.ScaleUp || env.ScaleDown {
		t.Errorf("env after rules: required %d up %v down %v", env.Required, env.ScaleUp, env.ScaleDown)
	}
	// floor moves required to 3 and with it the verdicts (scale-up, no scale-down): up and
	// no-down then confirm what is already so.
	var changed []string
	for _, r := range tr.Rules {
		if r.Changed {
			changed = append(changed, r.Name)
		}
	}
	if !cmp.Equal(changed, []string{"floor", "burst"}) {
		t.Errorf("changed = %v", changed)
	}
	if tr.Rules[1].Value != 3.5 {
		t.Errorf("burst = %+v", tr.Rules[1])
	}
	allocs := testing.AllocsPerRun(200, func() {
		*env = rules.Env{Active: 2, Required: 1}
		tr.Rules = tr.Rules[:0]
		applyRules(ev, pol, env.Active, &tr)
	})
	// The Evaluator boxes the Env once for the instance and again after each rule that changed
	// it and is followed by another (floor here); nothing else allocates.
	if allocs != 2 {
		t.Errorf("applyRules allocates %v times, want 2", allocs)
	}
}

// BenchmarkPolicyRound sizes one autoscaler round of 10 000 cluster instances as far as the
// policies are concerned (moved here from policies with the rule loop): each instance runs the
// example "web" policy's rules through the live loop; the one in ten that proposes an action
// asks governance, and most of those are answered by the cache (the same proposal within the
// minute). The budget is 100 ms per round on one core.
func BenchmarkPolicyRound(b *testing.B) {
	set, err := policies.LoadDir("../examples/policies")
	if err != nil {
		b.Fatal(err)
	}
	web, _ := set.Autoscaling("web")
	const n = 10_000
	envs := make([]rules.Env, n)
	for i := range envs {
		envs[i] = rules.Env{
			RIF:        rules.Metric{Predicted: float64(i % 97), Threshold: 20, Fresh: true},
			MC:         rules.Metric{Predicted: float64(i % 80)},
			Active:     1 + i%5,
			Required:   1 + i%7,
			MinMembers: 1, MaxMembers: 10,
			ScaleDown: i%3 == 0,
			Time:      rules.Time{Hour: 14, Weekday: 3},
			ClusterID: fmt.Sprintf("c%d", i%500), TenantID: fmt.Sprintf("t%d", i%20), Cartridge: "php",
		}
	}
	ctx := context.Background()
	ev := rules.NewEvaluator()
	var tr Trace
	b.ReportAllocs()
	for b.Loop() {
		for i := range envs {
			*ev.Env() = envs[i]
			tr.Rules = tr.Rules[:0]
			if n := applyRules(ev, web, envs[i].Active, &tr); n != 0 {
				b.Fatalf("%d rules failed: %+v", n, tr.Rules)
			}
			if i%10 == 0 {
				e := ev.Env()
				p := rules.Proposal{Action: "scale-up", Delta: e.Required - e.Active, ClusterID: e.ClusterID,
					TenantID: e.TenantID, Cartridge: e.Cartridge, Active: e.Active, Required: e.Required,
					TenantMembers: 4, Hour: e.Time.Hour, Weekday: e.Time.Weekday}
				if _, err := set.Govern(ctx, p); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/round")
}
