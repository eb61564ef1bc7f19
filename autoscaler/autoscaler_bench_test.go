package autoscaler

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
	"github.com/strata-paas/strata/rules"
)

// benchRules are comparison and small-integer rules, the kind that do not allocate in expr.
const benchRules = `rules:
  - name: business-hours-floor
    required: 'time.weekday >= 1 && time.weekday <= 5 && time.hour >= 8 && time.hour < 18 && required < 2 ? 2 : required'
  - name: burst
    required: 'rif.fresh && rif.required > 3 * active ? required + 2 : required'
  - name: keep-scale-down-quiet
    scaleDown: 'scaleDown && !mc.missing && mc.predicted < 50'
behaviour:
  scaleDown: {stabilizationWindow: 5m, maxStep: 1}
  tolerance: 0.1
`

const benchGovernance = `package strata.governance
tenant_quota := {"t1": 20, "t2": 5}
deny contains msg if {
	input.action == "scale-up"
	input.tenant_members + input.delta > tenant_quota[input.tenant_id]
	msg := sprintf("tenant %s over quota", [input.tenant_id])
}
deny contains "frozen" if {
	input.action == "scale-down"
	input.time.weekday == 0
	input.time.hour >= 2
	input.time.hour < 4
}`

type countRecorder struct{ n int }

func (c *countRecorder) RecordDecision(model.Decision) bool { c.n++; return true }

// newBench registers n cluster instances of 3 active members each (2 partitions), steady at
// RIF 50 per instance (required 3).
func newBench(b testing.TB, n int) (*Autoscaler, *fakeClock) {
	set := buildSet(b, scalingPolicies("round-robin", "enforce", benchRules), benchGovernance)
	clock := newFakeClock()
	a, err := New(Options{Policies: &staticPolicies{set}, Starter: &fixtureStarter{}, Recorder: &countRecorder{}, Clock: clock})
	if err != nil {
		b.Fatal(err)
	}
	a.mu.Lock()
	for i := range n {
		in := a.registerLocked(ClusterSpec{ClusterID: fmt.Sprintf("app%d.php.php.domain", i), InstanceID: "php-1",
			NetworkPartition: "np1", ServiceName: "php", TenantID: "t1", Min: 1, Max: 6, AutoscalePolicy: "as", DeploymentPolicy: "dep"}, epoch)
		a.setCountsLocked(in, policies.FixtureMembers{Partition: "p1", Active: 2}, epoch)
		a.setCountsLocked(in, policies.FixtureMembers{Partition: "p2", Active: 1}, epoch)
		for _, m := range in.parts[0].lists[listActive] {
			m.la, m.mc = stat3{avg: 20}, stat3{avg: 20}
		}
	}
	a.mu.Unlock()
	a.Evaluate(context.Background()) // first round: build partitions, warm buffers
	return a, clock
}

// freshen gives every instance a fresh RIF family, as one CEP window does.
func freshen(a *Autoscaler, now time.Time) {
	a.mu.Lock()
	j := float64(now.Unix()%7) / 10 // new values every round, so every trace is new
	for _, c := range a.clusters {
		for _, in := range c.instances {
			in.fam[familyRIF] = family{avg: 50 + j, grad: j, reset: true, last: now}
			in.fam[familyMC].last, in.fam[familyLA].last = now, now
		}
	}
	a.mu.Unlock()
}

// BenchmarkRound10k decides 10 000 cluster instances in one round: every instance's monitor tick
// is due. With fresh=true every instance also has fresh metrics, so each runs the min, max,
// scaling (with three expr rules, the stabilization window and the tolerance band) and obsolete
// checks; with fresh=false the scaling rule is gated off (a tick between CEP windows). Each
// records a decision with its JSON trace. Governance (Rego) is loaded but not asked: nothing is
// proposed by a steady instance.
func BenchmarkRound10k(b *testing.B) {
	const n = 10_000
	for _, fresh := range []bool{true, false} {
		b.Run(fmt.Sprintf("fresh=%t", fresh), func(b *testing.B) {
			a, clock := newBench(b, n)
			ctx := context.Background()
			now := clock.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				now = now.Add(DefaultMonitorInterval)
				clock.Set(now)
				if fresh {
					freshen(a, now)
				}
				b.StartTimer()
				if got := a.Evaluate(ctx); got != n {
					b.Fatalf("decided %d instances, want %d", got, n)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/round")
		})
	}
}

// BenchmarkRules measures the rule evaluation of one cluster instance: the three expr rules of
// benchRules through the autoscaler's evaluator, beside the bare library (expr's VM, the
// environment passed by value); and one governance question through rules.RegoQuery.Eval (not
// cached), beside a bare OPA prepared query with a map input. Nothing is compiled per
// evaluation: programs and the query are compiled when the policy set is built.
func BenchmarkRules(b *testing.B) {
	set := buildSet(b, scalingPolicies("round-robin", "enforce", benchRules), benchGovernance)
	pol, _ := set.Autoscaling("as")
	env := rules.Env{Active: 3, NonTerminated: 3, MinMembers: 1, MaxMembers: 6, Required: 3, ScaleDown: true,
		RIF: rules.Metric{Average: 50, Predicted: 50, Threshold: 20, Fresh: true, Required: 3},
		MC:  rules.Metric{Predicted: 20, Threshold: 30}, Time: rules.TimeOf(epoch), ClusterID: "c1", TenantID: "t1"}
	b.Run("impl=autoscaler-expr-3-rules", func(b *testing.B) {
		ev := rules.NewEvaluator()
		b.ReportAllocs()
		for b.Loop() {
			*ev.Env() = env
			for i := range pol.Rules {
				if _, err := ev.Eval(pol.Rules[i].Program); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("impl=baseline-expr-vm-3-rules", func(b *testing.B) {
		var progs []*vm.Program
		for _, r := range pol.Rules {
			p, err := expr.Compile(r.Expr, expr.Env(rules.Env{}))
			if err != nil {
				b.Fatal(err)
			}
			progs = append(progs, p)
		}
		var m vm.VM
		b.ReportAllocs()
		for b.Loop() {
			for _, p := range progs {
				if _, err := m.Run(p, env); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	prop := rules.Proposal{Action: "scale-up", Delta: 2, TenantID: "t1", TenantMembers: 4, Hour: 12, ClusterID: "c1"}
	ctx := context.Background()
	b.Run("impl=autoscaler-rego", func(b *testing.B) {
		q := set.Governance()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := q.Eval(ctx, prop); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=autoscaler-rego-cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := set.Govern(ctx, prop); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=baseline-opa-prepared", func(b *testing.B) {
		pq, err := rego.New(rego.Query(policies.GovernanceQuery), rego.Module("g.rego", benchGovernance)).PrepareForEval(ctx)
		if err != nil {
			b.Fatal(err)
		}
		in := map[string]any{"action": "scale-up", "delta": 2, "tenant_id": "t1", "tenant_members": 4,
			"cluster_id": "c1", "time": map[string]any{"hour": 12, "minute": 0, "weekday": 1}}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := pq.Eval(ctx, rego.EvalInput(in)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestRuleEvalAllocs pins the per-instance expr evaluation at 0 allocations.
func TestRuleEvalAllocs(t *testing.T) {
	set := buildSet(t, scalingPolicies("round-robin", "enforce", benchRules))
	pol, _ := set.Autoscaling("as")
	ev := rules.NewEvaluator()
	*ev.Env() = rules.Env{Active: 3, Required: 3, RIF: rules.Metric{Predicted: 50, Threshold: 20, Fresh: true}, Time: rules.TimeOf(epoch)}
	allocs := testing.AllocsPerRun(100, func() {
		for i := range pol.Rules {
			if _, err := ev.Eval(pol.Rules[i].Program); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per instance's rule evaluation, want 0", allocs)
	}
}

// BenchmarkReaction replays the single-cluster-scaling scenario and reports the time from the
// first health sample above the thresholds to the controller's start call, in simulated seconds
// (Stratos: 15 s stats + 60 s window + up to 90 s monitor tick, i.e. up to 165 s).
func BenchmarkReaction(b *testing.B) {
	var last time.Duration
	for b.Loop() {
		s := newSim(b, buildSet(b, scalingPolicies("round-robin", "enforce", "")), nil)
		s.pattern = pattern6060
		register(b, s.a, 2, 6)
		s.advance(epoch.Add(90 * time.Second))
		for _, st := range s.starts[2:] {
			last = st.at.Sub(s.firstHigh)
			break
		}
	}
	b.ReportMetric(last.Seconds(), "reaction-s")
	b.ReportMetric((15*time.Second).Seconds()+60+90, "stratos-worst-s")
}
