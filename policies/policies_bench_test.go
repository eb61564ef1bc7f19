package policies

import (
	"context"
	"fmt"
	"testing"

	"github.com/strata-paas/strata/rules"
)

// BenchmarkRound sizes one autoscaler round of 10 000 cluster instances as far as policies are
// concerned: each instance runs the example "web" policy's rules; the one in ten that proposes an
// action asks governance, and most of those are answered by the cache (the same proposal within
// the minute). The budget is 100 ms per round on one core.
func BenchmarkRound(b *testing.B) {
	set, err := LoadDir(examplesDir)
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
			Time:      rules.Clock{Hour: 14, Weekday: 3},
			ClusterID: fmt.Sprintf("c%d", i%500), TenantID: fmt.Sprintf("t%d", i%20), Cartridge: "php",
		}
	}
	ctx := context.Background()
	ev := rules.NewEvaluator()
	var out []RuleOutcome
	b.ReportAllocs()
	for b.Loop() {
		for i := range envs {
			*ev.Env() = envs[i]
			if out, err = web.ApplyRules(ev, out[:0]); err != nil {
				b.Fatal(err)
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
