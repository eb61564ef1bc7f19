package rules

import (
	"context"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/open-policy-agent/opa/v1/rego"
)

const benchExpr = `rif.predicted > rif.threshold && active < maxMembers && tenantId != "blocked"`

// BenchmarkExpr measures a few comparisons through Strata's Evaluator (the hot path) and
// Program.Eval (pooled evaluator plus a copy of Env), beside the bare library: expr.Run with a
// reused vm.VM, passing a pointer to a reused env (which allocates per field read) and the env by
// value (which allocates once to box it).
func BenchmarkExpr(b *testing.B) {
	p, err := CompileExpr(benchExpr, Bool)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := expr.Compile(benchExpr, expr.Env(Env{}), expr.AsBool())
	if err != nil {
		b.Fatal(err)
	}
	env := sampleEnv()
	b.Run("impl=strata-evaluator", func(b *testing.B) {
		ev := NewEvaluator()
		*ev.Env() = *env
		b.ReportAllocs()
		for b.Loop() {
			if r, _ := ev.Eval(p); !r.Bool {
				b.Fatal("false")
			}
		}
	})
	b.Run("impl=strata-program", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if r, _ := p.Eval(env); !r.Bool {
				b.Fatal("false")
			}
		}
	})
	b.Run("impl=baseline-vm-pointer", func(b *testing.B) {
		var m vm.VM
		b.ReportAllocs()
		for b.Loop() {
			if out, _ := m.Run(raw, env); out != true {
				b.Fatal("false")
			}
		}
	})
	b.Run("impl=baseline-vm-value", func(b *testing.B) {
		var m vm.VM
		b.ReportAllocs()
		for b.Loop() {
			if out, _ := m.Run(raw, *env); out != true {
				b.Fatal("false")
			}
		}
	})
}

// BenchmarkRego measures the two-rule deny policy through RegoQuery.Eval with a Proposal (hand-
// built input), with a map input, through Decide (cached), and the bare library: a
// rego.PreparedEvalQuery with a map input.
func BenchmarkRego(b *testing.B) {
	ctx := context.Background()
	q, err := CompileRego(ctx, map[string]string{"deny.rego": denyPolicy}, denyQuery)
	if err != nil {
		b.Fatal(err)
	}
	prop := Proposal{Action: "scale-up", Delta: 2, TenantID: "t1", TenantMembers: 4, Hour: 12, ClusterID: "php.cluster"}
	mapIn := map[string]any{"action": "scale-up", "delta": 2, "tenant_id": "t1", "tenant_members": 4,
		"cluster_id": "php.cluster", "time": map[string]any{"hour": 12}}
	pq, err := rego.New(rego.Query(denyQuery), rego.Module("deny.rego", denyPolicy)).PrepareForEval(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("impl=strata-proposal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if r, err := q.Eval(ctx, prop); err != nil || !r.Denied() {
				b.Fatal(r, err)
			}
		}
	})
	b.Run("impl=strata-map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if r, err := q.Eval(ctx, mapIn); err != nil || !r.Denied() {
				b.Fatal(r, err)
			}
		}
	})
	b.Run("impl=strata-decide-cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if r, err := q.Decide(ctx, prop); err != nil || !r.Denied() {
				b.Fatal(r, err)
			}
		}
	})
	// The same 21 fields as the Proposal, as a map: what the bare library costs for Strata's input.
	fullMap := map[string]any{"action": "scale-up", "delta": 2, "policy": "", "cluster_id": "php.cluster",
		"cluster_instance_id": "", "network_partition_id": "", "partition_id": "", "application_id": "",
		"tenant_id": "t1", "cartridge": "", "active": 0, "non_terminated": 0, "required": 0, "min_members": 0,
		"max_members": 0, "cluster_members": 0, "tenant_members": 4,
		"time": map[string]any{"hour": 12, "minute": 0, "weekday": 0}}
	b.Run("impl=baseline-prepared-fullmap", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if rs, err := pq.Eval(ctx, rego.EvalInput(fullMap)); err != nil || len(rs) != 1 {
				b.Fatal(rs, err)
			}
		}
	})
	b.Run("impl=baseline-prepared", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if rs, err := pq.Eval(ctx, rego.EvalInput(mapIn)); err != nil || len(rs) != 1 {
				b.Fatal(rs, err)
			}
		}
	})
}
