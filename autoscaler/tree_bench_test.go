package autoscaler

import (
	"context"
	"fmt"
	"testing"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// nestedApp is an application of three nested groups (g1 holds g2, which holds g3), each with
// three cartridges, the second and third after the first, like Stratos' g-sc-G123 sample.
func nestedApp(id string) ApplicationSpec {
	var clusters []ClusterSpec
	group := func(alias string) *model.Group {
		g := &model.Group{Name: alias, Alias: alias, GroupMinInstances: 1, GroupMaxInstances: 1, ApplicationID: id}
		g.AliasToClusterDataMap = map[string]model.ClusterDataHolder{}
		for i := 1; i <= 3; i++ {
			al := fmt.Sprintf("%s-c%d", alias, i)
			cid := model.ClusterID(id, al, "php")
			g.AliasToClusterDataMap[al] = model.ClusterDataHolder{ServiceType: "php", ClusterID: cid, MinInstances: 1, MaxInstances: 6}
			clusters = append(clusters, ClusterSpec{ClusterID: cid, ServiceName: "php", ApplicationID: id, TenantID: "t1",
				Min: 1, Max: 6, AutoscalePolicy: "as", DeploymentPolicy: "dep"})
		}
		g.DependencyOrder = &model.DependencyOrder{StartupOrders: []model.StartupOrder{
			{StartupOrderComponentList: []string{"cartridge." + alias + "-c1", "cartridge." + alias + "-c2"}},
			{StartupOrderComponentList: []string{"cartridge." + alias + "-c1", "cartridge." + alias + "-c3"}}}}
		return g
	}
	g1, g2, g3 := group("g1"), group("g2"), group("g3")
	g2.AliasToGroupMap = map[string]*model.Group{"g3": g3}
	g1.AliasToGroupMap = map[string]*model.Group{"g2": g2}
	app := &model.Application{ID: id, TenantID: 1}
	app.AliasToGroupMap = map[string]*model.Group{"g1": g1}
	return ApplicationSpec{App: app, Clusters: clusters}
}

// newTreeBench deploys n nested applications and activates every cluster instance (three
// active members each, steady), so that every application and group instance is Active.
func newTreeBench(b *testing.B, n int) (*Autoscaler, *fakeClock) {
	set := buildSet(b, scalingPolicies("round-robin", "enforce", benchRules), benchGovernance)
	clock := newFakeClock()
	a, err := New(Options{Policies: &staticPolicies{set}, Starter: &fixtureStarter{}, Recorder: &countRecorder{}, Clock: clock})
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		spec := nestedApp(fmt.Sprintf("app%d", i))
		if err := a.AddApplication(spec); err != nil {
			b.Fatal(err)
		}
		if err := a.DeployApplication(spec.App.ID, []string{"np1"}); err != nil {
			b.Fatal(err)
		}
		// Activate in startup order: each activation creates the children waiting for it.
		for range 3 {
			for _, c := range spec.Clusters {
				a.HandleEvent(&model.ClusterInstanceActivatedEvent{ClusterID: c.ClusterID, AppID: spec.App.ID, InstanceID: spec.App.ID + "-1"})
			}
		}
	}
	a.mu.Lock()
	if len(a.clusters) != 9*n {
		b.Fatalf("%d cluster instances, want %d", len(a.clusters), 9*n)
	}
	for _, c := range a.clusters {
		for _, in := range c.instances {
			a.setCountsLocked(in, policies.FixtureMembers{Partition: "p1", Active: 2}, epoch)
			a.setCountsLocked(in, policies.FixtureMembers{Partition: "p2", Active: 1}, epoch)
		}
	}
	for _, am := range a.tree.apps {
		if am.instances[0].status != statusActive {
			b.Fatalf("application %s is %s, want Active", am.id, am.instances[0].status)
		}
	}
	a.mu.Unlock()
	a.Evaluate(context.Background())
	a.work = a.work[:0]
	return a, clock
}

// BenchmarkTreeRound is one monitor round over 1,000 applications of three nested groups of
// three clusters: "parents" is the parent monitors' round (checkTree: 4,000 application and
// group instances), "clusters" the round of their 9,000 cluster instances (every monitor tick
// due, no fresh metrics), and "flat" the same round over 9,000 clusters registered alone, for
// comparison.
func BenchmarkTreeRound(b *testing.B) {
	const apps = 1000
	b.Run("parents", func(b *testing.B) {
		a, _ := newTreeBench(b, apps)
		b.ReportAllocs()
		for b.Loop() {
			if got := a.checkTree(); got != 4*apps {
				b.Fatalf("checked %d parent instances, want %d", got, 4*apps)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/round")
	})
	round := func(b *testing.B, a *Autoscaler, clock *fakeClock, n int) {
		ctx := context.Background()
		now := clock.Now()
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			b.StopTimer()
			now = now.Add(DefaultMonitorInterval)
			clock.Set(now)
			b.StartTimer()
			if got := a.Evaluate(ctx); got != n {
				b.Fatalf("decided %d instances, want %d", got, n)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/round")
	}
	b.Run("clusters", func(b *testing.B) {
		a, clock := newTreeBench(b, apps)
		round(b, a, clock, 9*apps)
	})
	b.Run("flat", func(b *testing.B) {
		a, clock := newBench(b, 9*apps)
		a.mu.Lock()
		for _, c := range a.clusters {
			for _, in := range c.instances {
				in.status = model.ClusterActive // as the tree's are
			}
		}
		a.mu.Unlock()
		round(b, a, clock, 9*apps)
	})
}
