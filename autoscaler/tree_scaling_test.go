package autoscaler

import (
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// clusterApp is an application of top-level cartridges (alias, min, max) with the dependency
// order given, and the specs of their clusters.
func clusterApp(order *model.DependencyOrder, policy string, carts ...struct {
	alias    string
	min, max int
}) ApplicationSpec {
	app := &model.Application{ID: "app", ApplicationPolicyID: policy}
	app.AliasToClusterDataMap = map[string]model.ClusterDataHolder{}
	app.DependencyOrder = order
	var specs []ClusterSpec
	for _, c := range carts {
		id := model.ClusterID("app", c.alias, "php")
		app.AliasToClusterDataMap[c.alias] = model.ClusterDataHolder{ServiceType: "php", ClusterID: id, MinInstances: model.Int(c.min), MaxInstances: model.Int(c.max)}
		specs = append(specs, ClusterSpec{ClusterID: id, ServiceName: "php", ApplicationID: "app", Min: c.min, Max: c.max,
			AutoscalePolicy: "as", DeploymentPolicy: "dep"})
	}
	return ApplicationSpec{App: app, Clusters: specs}
}

type cart = struct {
	alias    string
	min, max int
}

// runningIn counts the running members of a cluster by cluster instance.
func runningIn(w *depWorld, alias string) map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := map[string]int{}
	for _, m := range w.members {
		if m.cluster == model.ClusterID("app", alias, "php") && !m.gone && !m.killed {
			out[m.instance]++
		}
	}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestScalingDependentsFollowTheHighestFactor: a (min 1) and b (min 2) are scaling dependents.
// Under a load average of 1.5 times the threshold a requires 2 (factor 2) and b 3 (factor 1.5):
// the parent's round pushes 2 down to both, so b goes to min * 2 = 4 members, not the 3 its own
// rule wants, and each decision says which factor it got from whom. (Later b's own rule asks
// for 1.5, which, alone in its round, brings b back to 3: Stratos' dependents do the same.)
func TestScalingDependentsFollowTheHighestFactor(t *testing.T) {
	rec := &fakeRecorder{}
	w := &depWorld{sim: newSim(t, buildSet(t, scalingPolicies("one-after-another", "enforce", "")), rec)}
	order := &model.DependencyOrder{ScalingDependents: []model.ScalingDependentList{{ScalingDependentListComponents: []string{"cartridge.a", "cartridge.b"}}}}
	if err := w.a.AddApplication(clusterApp(order, "", cart{"a", 1, 5}, cart{"b", 2, 6})); err != nil {
		t.Fatal(err)
	}
	if err := w.a.DeployApplication("app", []string{"np1"}); err != nil {
		t.Fatal(err)
	}
	w.run(2 * time.Minute)
	w.pattern = func(time.Duration) (la, mc float64) { return 37.5, 20 }
	w.run(4 * time.Minute)
	// The first factor pushed down: b's decision starts 2 more (to 4), a's 1 more (to 2).
	first := map[string]model.Decision{}
	for _, d := range rec.all() {
		al := strings.Split(d.ClusterID, ".")[1]
		if _, seen := first[al]; !seen && strings.HasPrefix(d.Reason, "scaling dependents:") {
			first[al] = d
		}
	}
	if d := first["b"]; !strings.Contains(d.Reason, "factor 2 from cartridge.a gives 4 members") || d.Delta != 2 {
		t.Errorf("b's first dependent decision: %q delta %d, want the factor 2 from cartridge.a giving 4 members, +2", d.Reason, d.Delta)
	}
	if d := first["a"]; !strings.Contains(d.Reason, "factor 2 from cartridge.a gives 2 members") || d.Delta != 1 {
		t.Errorf("a's first dependent decision: %q delta %d, want the factor 2 giving 2 members, +1", d.Reason, d.Delta)
	}
	if n := total(runningIn(w, "a")); n != 2 {
		t.Errorf("a runs %d members, want 2", n)
	}
}

// TestGroupScalingCreatesAGroupInstance: a cluster at its max in a group with
// groupMaxInstances 2 makes the group create a second instance, and no third; idle again, the
// group scales in to its groupMinInstances (ScalingDownBeyondMin from every child).
func TestGroupScalingCreatesAGroupInstance(t *testing.T) {
	rec := &fakeRecorder{}
	w := &depWorld{sim: newSim(t, buildSet(t, scalingPolicies("one-after-another", "enforce", "")), rec)}
	spec := groupApp("terminate-none")
	g := spec.App.AliasToGroupMap["g"]
	g.GroupMaxInstances = 2
	for i := range spec.Clusters {
		spec.Clusters[i].Max = 1
	}
	if err := w.a.AddApplication(spec); err != nil {
		t.Fatal(err)
	}
	if err := w.a.DeployApplication("app", []string{"np1"}); err != nil {
		t.Fatal(err)
	}
	w.run(3 * time.Minute)
	from := len(w.events)
	w.pattern = func(time.Duration) (la, mc float64) { return 60, 20 }
	w.run(6 * time.Minute)
	created := published[*model.GroupInstanceCreatedEvent](w, from)
	if len(created) != 1 {
		t.Fatalf("%d group instances created under load, want 1 (groupMaxInstances 2)", len(created))
	}
	if got := runningIn(w, "c"); len(got) != 2 {
		t.Errorf("c runs in cluster instances %v, want two (one per group instance)", got)
	}
	var reason string
	for _, d := range rec.all() {
		if d.Action == ActionTree && strings.Contains(d.Reason, "group scaling") {
			reason = d.Reason
		}
	}
	if !strings.Contains(reason, "creates group instance") {
		t.Errorf("no decision explains the new group instance: %q", reason)
	}

	// Idle again: every cluster of the new instance is at min and wants fewer, so the group scales
	// in to its groupMinInstances: the new instance terminates, the first stays.
	from = len(w.events)
	w.pattern = func(time.Duration) (la, mc float64) { return 5, 5 }
	w.run(10 * time.Minute)
	gone := published[*model.GroupInstanceTerminatedEvent](w, from)
	if len(gone) != 1 || gone[0].InstanceID != created[0].GroupInstance.InstanceID {
		t.Fatalf("group instances terminated when idle: %+v, want the second (%s) alone", gone, created[0].GroupInstance.InstanceID)
	}
	if got := runningIn(w, "c"); len(got) != 1 || got["app-1"] != 1 {
		t.Errorf("c runs in %v after the scale-in, want app-1 alone", got)
	}
	if got := published[*model.GroupInstanceCreatedEvent](w, from); len(got) != 0 {
		t.Errorf("group instances created after the scale-in: %d, want none", len(got))
	}
}

// TestApplicationBursts: a cluster at its max in an application whose policy lists np1 then np2
// (one-after-another) makes the application create an instance in np2; with np2 used too there
// is nothing more to burst into.
func TestApplicationBursts(t *testing.T) {
	rec := &fakeRecorder{}
	extra := `---
kind: NetworkPartition
id: np2
provider: mock
partitions:
  - id: q1
---
kind: ApplicationPolicy
id: ap
algorithm: one-after-another
networkPartitions: [np1, np2]
`
	set := buildSet(t, strings.Replace(scalingPolicies("one-after-another", "enforce", extra), `      - {id: p2, partitionMax: 3}
`, `      - {id: p2, partitionMax: 3}
  - id: np2
    partitionAlgo: one-after-another
    partitions:
      - {id: q1, partitionMax: 3}
`, 1))
	w := &depWorld{sim: newSim(t, set, rec)}
	if err := w.a.AddApplication(clusterApp(nil, "ap", cart{"y", 1, 1})); err != nil {
		t.Fatal(err)
	}
	if err := w.a.DeployApplication("app", []string{"np1"}); err != nil {
		t.Fatal(err)
	}
	w.run(2 * time.Minute)
	from := len(w.events)
	w.pattern = func(time.Duration) (la, mc float64) { return 60, 20 }
	w.run(6 * time.Minute)
	created := published[*model.ApplicationInstanceCreatedEvent](w, from)
	if len(created) != 1 || created[0].ApplicationInstance.NetworkPartitionID != "np2" {
		t.Fatalf("application instances created under load: %+v, want one in np2", created)
	}
	if got := runningIn(w, "y"); got["app-2"] != 1 || got["app-1"] != 1 {
		t.Errorf("y runs %v, want one member in app-1 and one in app-2", got)
	}
	var last string
	for _, d := range rec.all() {
		if d.Action == ActionTree {
			last = d.Reason
		}
	}
	if !strings.Contains(last, "no network partition is left") {
		t.Errorf("the last tree decision says %q, want that nothing is left to burst into", last)
	}
}

// TestScalingDependentGroup: a group among the scaling dependents passes the factor to the
// clusters of its instances.
func TestScalingDependentGroup(t *testing.T) {
	rec := &fakeRecorder{}
	w := &depWorld{sim: newSim(t, buildSet(t, scalingPolicies("one-after-another", "enforce", "")), rec)}
	spec := groupApp("terminate-none")
	spec.App.DependencyOrder = &model.DependencyOrder{ScalingDependents: []model.ScalingDependentList{{ScalingDependentListComponents: []string{"cartridge.top", "group.g"}}}}
	if err := w.a.AddApplication(spec); err != nil {
		t.Fatal(err)
	}
	if err := w.a.DeployApplication("app", []string{"np1"}); err != nil {
		t.Fatal(err)
	}
	w.run(3 * time.Minute)
	w.pattern = func(time.Duration) (la, mc float64) { return 37.5, 20 }
	w.run(3 * time.Minute)
	got := map[string]bool{}
	for _, d := range rec.all() {
		if strings.HasPrefix(d.Reason, "scaling dependents: factor 2 from cartridge.top") {
			got[strings.Split(d.ClusterID, ".")[1]] = true
		}
	}
	for _, al := range []string{"top", "a", "b", "c"} {
		if !got[al] {
			t.Errorf("%s got no factor from cartridge.top (decisions with it: %v)", al, got)
		}
	}
}
