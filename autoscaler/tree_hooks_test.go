package autoscaler

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// depWorld is the simulated world (sim) with the cloud controller's answers to the autoscaler's
// cluster status events: each ClusterStatusCluster*Event comes back as the topology's
// ClusterInstance*Event, as the controller publishes them.
type depWorld struct {
	*sim
	seen int         // events of sim.events already answered
	at   []time.Time // when each event of sim.events was published (the step's time)

	lastParents time.Time // the last parent monitors' round
}

// run advances the world in 250 ms steps for d.
func (w *depWorld) run(d time.Duration) {
	const step = 250 * time.Millisecond
	end := w.clock.Now().Add(d)
	for now := w.clock.Now(); !now.After(end); now = now.Add(step) {
		w.clock.Set(now)
		w.deliver(now)
		w.sample(now)
		if !now.Before(w.lastWin.Add(time.Minute)) {
			w.lastWin = now
			w.summarize(now)
		}
		if !now.Before(w.lastParents.Add(time.Minute)) {
			w.lastParents = now
			w.a.checkTree() // Run's parent monitors' round
		}
		w.a.Evaluate(context.Background())
		w.mu.Lock()
		fresh := append([]model.Event(nil), w.events[w.seen:]...)
		w.seen = len(w.events)
		for len(w.at) < w.seen {
			w.at = append(w.at, now)
		}
		w.mu.Unlock()
		for _, e := range fresh {
			if t := topologyAnswer(e); t != nil {
				w.a.HandleEvent(t)
			}
		}
	}
}

func topologyAnswer(e model.Event) model.Event {
	switch ev := e.(type) {
	case *model.ClusterStatusClusterActivatedEvent:
		return &model.ClusterInstanceActivatedEvent{ServiceName: ev.ServiceName, ClusterID: ev.ClusterID, AppID: ev.AppID, InstanceID: ev.InstanceID}
	case *model.ClusterStatusClusterInactivateEvent:
		return &model.ClusterInstanceInactivateEvent{ServiceName: ev.ServiceName, ClusterID: ev.ClusterID, AppID: ev.AppID, InstanceID: ev.InstanceID}
	case *model.ClusterStatusClusterTerminatingEvent:
		return &model.ClusterInstanceTerminatingEvent{ServiceName: ev.ServiceName, ClusterID: ev.ClusterID, AppID: ev.AppID, InstanceID: ev.InstanceID}
	case *model.ClusterStatusClusterTerminatedEvent:
		return &model.ClusterInstanceTerminatedEvent{ServiceName: ev.ServiceName, ClusterID: ev.ClusterID, AppID: ev.AppID, InstanceID: ev.InstanceID}
	}
	return nil
}

// published are the events of the given type the autoscaler published, from index from on.
func published[E model.Event](w *depWorld, from int) []E {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []E
	for _, e := range w.events[from:] {
		if x, ok := e.(E); ok {
			out = append(out, x)
		}
	}
	return out
}

// groupApp is an application with one cartridge outside any group (top) and a group g of three
// cartridges a, b and c, where b follows a and c has no order, with the termination behaviour
// given. Every cluster has min 1.
func groupApp(behaviour string) ApplicationSpec {
	cid := func(alias string) string { return model.ClusterID("app", alias, "php") }
	data := func(aliases ...string) map[string]model.ClusterDataHolder {
		m := map[string]model.ClusterDataHolder{}
		for _, al := range aliases {
			m[al] = model.ClusterDataHolder{ServiceType: "php", ClusterID: cid(al), MinInstances: 1, MaxInstances: 3}
		}
		return m
	}
	g := &model.Group{Name: "grp", Alias: "g", GroupMinInstances: 1, GroupMaxInstances: 1, ApplicationID: "app"}
	g.AliasToClusterDataMap = data("a", "b", "c")
	g.DependencyOrder = &model.DependencyOrder{TerminationBehaviour: behaviour,
		StartupOrders: []model.StartupOrder{{StartupOrderComponentList: []string{"cartridge.a", "cartridge.b"}}}}
	app := &model.Application{ID: "app"}
	app.AliasToClusterDataMap = data("top")
	app.AliasToGroupMap = map[string]*model.Group{"g": g}
	var specs []ClusterSpec
	for _, al := range []string{"top", "a", "b", "c"} {
		specs = append(specs, ClusterSpec{ClusterID: cid(al), ServiceName: "php", ApplicationID: "app", Min: 1, Max: 3,
			AutoscalePolicy: "as", DeploymentPolicy: "dep"})
	}
	return ApplicationSpec{App: app, Clusters: specs}
}

// deployTree deploys groupApp(behaviour) in the world and runs it until every cluster instance
// is Active.
func deployTree(t *testing.T, behaviour string, rec *fakeRecorder) *depWorld {
	t.Helper()
	w := &depWorld{sim: newSim(t, buildSet(t, scalingPolicies("one-after-another", "enforce", "")), rec)}
	if err := w.a.AddApplication(groupApp(behaviour)); err != nil {
		t.Fatal(err)
	}
	if err := w.a.DeployApplication("app", []string{"np1"}); err != nil {
		t.Fatal(err)
	}
	w.run(3 * time.Minute)
	if got := len(published[*model.ClusterStatusClusterActivatedEvent](w, 0)); got != 4 {
		t.Fatalf("%d cluster instances Active after the deployment, want 4", got)
	}
	return w
}

// faultOne kills the running member of cluster alias: its fault makes the cluster instance
// Inactive (min 1). It returns the index of the first event after the fault.
func faultOne(t *testing.T, w *depWorld, alias string) int {
	t.Helper()
	w.mu.Lock()
	var id string
	for _, mid := range w.order {
		if m := w.members[mid]; m.cluster == model.ClusterID("app", alias, "php") && !m.gone && !m.killed {
			id = mid
		}
	}
	from := len(w.events)
	w.mu.Unlock()
	if id == "" {
		t.Fatalf("no running member in %s", alias)
	}
	w.kill(id)
	return from
}

func terminatingClusters(w *depWorld, from int) []string {
	var out []string
	for _, e := range published[*model.ClusterStatusClusterTerminatingEvent](w, from) {
		out = append(out, strings.Split(e.ClusterID, ".")[1])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestTerminateAllRecreatesTheGroupInstance: with terminate-all, one member fault in a group's
// cluster that another follows in the startup order terminates every sibling and the group
// instance, which is then created again and becomes Active; the cartridge outside the group is
// left alone.
func TestTerminateAllRecreatesTheGroupInstance(t *testing.T) {
	rec := &fakeRecorder{}
	w := deployTree(t, "terminate-all", rec)
	from := faultOne(t, w, "a")
	w.run(5 * time.Minute)
	if got, want := terminatingClusters(w, from), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("clusters told to terminate after a's fault: %v, want %v", got, want)
	}
	var created, terminated, activated int
	for _, e := range published[model.Event](w, from) {
		switch ev := e.(type) {
		case *model.GroupInstanceTerminatedEvent:
			terminated++
		case *model.GroupInstanceCreatedEvent:
			created++
		case *model.GroupInstanceActivatedEvent:
			if ev.GroupID == "g" {
				activated++
			}
		}
	}
	if terminated != 1 || created != 1 || activated != 1 {
		t.Errorf("after the fault: %d GroupInstanceTerminated, %d GroupInstanceCreated, %d GroupInstanceActivated; want 1 each (the group instance recreated)",
			terminated, created, activated)
	}
	// Every cluster of the group runs again, top never stopped.
	if n, _ := w.running(); n != 4 {
		t.Errorf("%d members run after the recovery, want 4", n)
	}
	var why model.Decision
	for _, d := range rec.all() {
		if d.Action == ActionTree && d.ClusterID == model.ClusterID("app", "c", "php") {
			why = d
			break
		}
	}
	if !strings.Contains(why.Reason, "cartridge.a went Inactive in group g instance") || !strings.Contains(why.Reason, "terminate-all") {
		t.Errorf("the decision recorded for c says %q, want why it was terminated (a Inactive, terminate-all)", why.Reason)
	}
	var text strings.Builder
	if err := RenderTrace(&text, why); err != nil || !strings.Contains(text.String(), "reason: cartridge.a went Inactive") ||
		!strings.Contains(text.String(), "decided by the application tree (termination-behaviour)") || strings.Contains(text.String(), "scaling rule") {
		t.Errorf("strata explain's text of the decision: %v\n%s", err, text.String())
	}
}

// TestTerminateAllIndependentUnit: with terminate-all, the fault of a cluster nothing follows (b
// is last in the order) leaves the siblings: Stratos' independent unit recovers alone.
func TestTerminateAllIndependentUnit(t *testing.T) {
	rec := &fakeRecorder{}
	w := deployTree(t, "terminate-all", rec)
	from := faultOne(t, w, "b")
	w.run(5 * time.Minute)
	if got := terminatingClusters(w, from); len(got) != 0 {
		t.Errorf("clusters told to terminate after b's fault: %v, want none", got)
	}
	if n, _ := w.running(); n != 4 {
		t.Errorf("%d members run after the recovery, want 4 (b's member replaced)", n)
	}
	var why string
	for _, d := range rec.all() {
		if d.Action == ActionTree && d.ClusterID == model.ClusterID("app", "b", "php") {
			why = d.Reason
		}
	}
	if !strings.Contains(why, "no child follows it") {
		t.Errorf("b's tree decision says %q, want why nothing was terminated", why)
	}
}

// TestTerminateNoneLeavesSiblings: with terminate-none, the faulty cluster recovers alone.
func TestTerminateNoneLeavesSiblings(t *testing.T) {
	w := deployTree(t, "terminate-none", nil)
	from := faultOne(t, w, "a")
	w.run(5 * time.Minute)
	if got := terminatingClusters(w, from); len(got) != 0 {
		t.Errorf("clusters told to terminate after a's fault: %v, want none", got)
	}
	if got := published[*model.GroupInstanceTerminatingEvent](w, from); len(got) != 0 {
		t.Errorf("group instances terminating: %d, want none", len(got))
	}
	if n, _ := w.running(); n != 4 {
		t.Errorf("%d members run after the recovery, want 4 (a's member replaced)", n)
	}
}

// TestTerminateDependentsTerminatesExactlyTheDependents: with terminate-dependents, a's fault
// terminates a and b (which follows a) and not c, which has no order; a and b are created again
// in order, and the group instance is not terminated.
func TestTerminateDependentsTerminatesExactlyTheDependents(t *testing.T) {
	w := deployTree(t, "terminate-dependents", nil)
	from := faultOne(t, w, "a")
	w.run(5 * time.Minute)
	if got, want := terminatingClusters(w, from), []string{"a", "b"}; !slices.Equal(got, want) {
		t.Errorf("clusters told to terminate after a's fault: %v, want %v", got, want)
	}
	if got := published[*model.GroupInstanceTerminatingEvent](w, from); len(got) != 0 {
		t.Errorf("group instances terminating: %d, want none", len(got))
	}
	// a again before b again: b's new start follows a's activation.
	aID, bID := model.ClusterID("app", "a", "php"), model.ClusterID("app", "b", "php")
	var aActive, bStart time.Time
	for i, e := range w.events[from:] {
		if ev, ok := e.(*model.ClusterStatusClusterActivatedEvent); ok && ev.ClusterID == aID && aActive.IsZero() {
			aActive = w.at[from+i]
		}
	}
	for _, s := range w.starts {
		if s.at.After(w.at[from]) && s.req.ClusterID == bID && bStart.IsZero() {
			bStart = s.at
		}
	}
	if aActive.IsZero() || bStart.IsZero() || !aActive.Before(bStart) {
		t.Errorf("a Active again at %v, b started again at %v: want b after a", aActive, bStart)
	}
	if n, _ := w.running(); n != 4 {
		t.Errorf("%d members run after the recovery, want 4", n)
	}
}

// TestTerminateAllWithCompleteTopology: the complete topology the autoscaler last took may
// show the group's cluster instances as they were before terminate-all terminated them: taken
// while the recovery ran (agents ask for one whenever they start, and the autoscaler takes those
// until it leaves the topic), or long before (the one it took at start, as after a restart, and
// no other since). When the group instance is created again with the same cluster instance ids,
// that snapshot is out of date: the new cluster instances start Created, start their members in
// startup order and become Active with them, and so does the group instance.
func TestTerminateAllWithCompleteTopology(t *testing.T) {
	for _, tc := range []struct {
		name   string
		during bool // taken once c began Terminating; else just before the fault, every instance Active
	}{
		{name: "taken during the recovery", during: true},
		{name: "taken before the fault", during: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := deployTree(t, "terminate-all", nil)
			if !tc.during {
				w.a.HandleEvent(groupTopology(w, 0))
			}
			from := faultOne(t, w, "a")
			if tc.during {
				for i := 0; !told(w, from, "c", terminatingID); i++ {
					if i == 1000 {
						t.Fatal("c was not told to terminate after a's fault")
					}
					w.run(0)
					w.clock.Set(w.clock.Now().Add(250 * time.Millisecond))
				}
				if told(w, from, "c", terminatedID) {
					t.Fatal("c was Terminated in the step it began Terminating: no window for the complete topology")
				}
				w.a.HandleEvent(groupTopology(w, from))
			}
			snapshot := len(w.events)
			w.run(5 * time.Minute)
			activated := 0
			for _, e := range published[*model.GroupInstanceActivatedEvent](w, from) {
				if e.GroupID == "g" {
					activated++
				}
			}
			if activated != 1 {
				t.Errorf("%d GroupInstanceActivatedEvent of g after the fault, want 1 (the group instance recreated)", activated)
			}
			for _, al := range []string{"a", "b", "c"} {
				if !told(w, snapshot, al, activatedID) {
					t.Errorf("%s's new cluster instance never became Active", al)
				}
			}
			if n, _ := w.running(); n != 4 {
				t.Errorf("%d members run after the recovery, want 4", n)
			}
		})
	}
}

// told reports whether the autoscaler published, from index from on, an event of which id returns
// the cluster of alias of groupApp.
func told(w *depWorld, from int, alias string, id func(model.Event) string) bool {
	for _, e := range published[model.Event](w, from) {
		if id(e) == model.ClusterID("app", alias, "php") {
			return true
		}
	}
	return false
}

func terminatingID(e model.Event) string {
	if ev, ok := e.(*model.ClusterStatusClusterTerminatingEvent); ok {
		return ev.ClusterID
	}
	return ""
}

func terminatedID(e model.Event) string {
	if ev, ok := e.(*model.ClusterStatusClusterTerminatedEvent); ok {
		return ev.ClusterID
	}
	return ""
}

func activatedID(e model.Event) string {
	if ev, ok := e.(*model.ClusterStatusClusterActivatedEvent); ok {
		return ev.ClusterID
	}
	return ""
}

// groupTopology is the complete topology the controller of w publishes at this point, for the
// cluster instances app-1 of groupApp: top Active, a, b and c Active or, once told to terminate
// after the event at index from, Terminating, and absent once Terminated. Members are left out.
func groupTopology(w *depWorld, from int) *model.CompleteTopologyEvent {
	svc := &model.Service{ServiceName: "php", ClusterIDClusterMap: map[string]*model.Cluster{}}
	for _, al := range []string{"top", "a", "b", "c"} {
		cl := &model.Cluster{ClusterID: model.ClusterID("app", al, "php"), ServiceName: "php", AppID: "app", AutoscalePolicyName: "as",
			DeploymentPolicyName: "dep", InstanceIDToInstanceContextMap: map[string]*model.ClusterInstance{}}
		svc.ClusterIDClusterMap[cl.ClusterID] = cl
		if told(w, from, al, terminatedID) {
			continue
		}
		ci := &model.ClusterInstance{InstanceID: "app-1", NetworkPartitionID: "np1"}
		ci.LifeCycleStateManager.Push(model.ClusterCreated)
		ci.LifeCycleStateManager.Push(model.ClusterActive)
		if told(w, from, al, terminatingID) {
			ci.LifeCycleStateManager.Push(model.ClusterTerminating)
		}
		cl.InstanceIDToInstanceContextMap["app-1"] = ci
	}
	return &model.CompleteTopologyEvent{Topology: &model.Topology{ServiceMap: map[string]*model.Service{"php": svc}}}
}
