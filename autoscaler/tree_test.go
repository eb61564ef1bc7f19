package autoscaler

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// treeWorld is a controller and a bus that record, in one sequence, every member start and
// every event the autoscaler publishes (as "<class> <json>"), so that a test sees their order.
type treeWorld struct {
	mu  sync.Mutex
	log []string
	n   int
}

func (w *treeWorld) add(s string) {
	w.mu.Lock()
	w.log = append(w.log, s)
	w.mu.Unlock()
}

func (w *treeWorld) StartMember(_ context.Context, req StartRequest) (model.Member, error) {
	w.mu.Lock()
	w.n++
	id := fmt.Sprintf("m%d", w.n)
	w.log = append(w.log, "start "+req.ClusterID+" "+req.ClusterInstanceID)
	w.mu.Unlock()
	return model.Member{ClusterID: req.ClusterID, MemberID: id, ClusterInstanceID: req.ClusterInstanceID,
		NetworkPartitionID: req.NetworkPartitionID, PartitionID: req.PartitionID}, nil
}

func (w *treeWorld) TerminateMember(_ context.Context, id string, _ bool) error {
	w.add("terminate " + id)
	return nil
}

func (w *treeWorld) PublishEvent(_ context.Context, e model.Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	w.add(e.EventClass() + " " + string(b))
	return nil
}

func (w *treeWorld) Publish(context.Context, string, []byte, byte) error { return nil }

func (w *treeWorld) SubscribeEvents(context.Context, string, bus.EventHandler) error { return nil }

// take returns the log so far and empties it.
func (w *treeWorld) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.log
	w.log = nil
	return out
}

// treeApp is an application "app" of two top-level cartridges (lb, then tomcat) and a group g6
// after tomcat, whose cartridges t1 and t2 start in that order; its own min is 1 member each.
func treeApp() ApplicationSpec {
	spec := func(alias string) ClusterSpec {
		return ClusterSpec{ClusterID: model.ClusterID("app", alias, alias), ServiceName: alias, ApplicationID: "app",
			Min: 1, Max: 2, AutoscalePolicy: "as", DeploymentPolicy: "dep"}
	}
	data := func(alias string) model.ClusterDataHolder {
		return model.ClusterDataHolder{ServiceType: alias, ClusterID: model.ClusterID("app", alias, alias), MinInstances: 1, MaxInstances: 2}
	}
	app := &model.Application{ID: "app", TenantID: -1234}
	app.AliasToClusterDataMap = map[string]model.ClusterDataHolder{"lb": data("lb"), "tomcat": data("tomcat")}
	app.DependencyOrder = &model.DependencyOrder{StartupOrders: []model.StartupOrder{
		{StartupOrderComponentList: []string{"cartridge.lb", "cartridge.tomcat", "group.g6"}}}, TerminationBehaviour: "terminate-all"}
	g6 := &model.Group{Name: "group6", Alias: "g6", GroupMinInstances: 1, GroupMaxInstances: 1, ApplicationID: "app"}
	g6.AliasToClusterDataMap = map[string]model.ClusterDataHolder{"t1": data("t1"), "t2": data("t2")}
	g6.DependencyOrder = &model.DependencyOrder{StartupOrders: []model.StartupOrder{
		{StartupOrderComponentList: []string{"cartridge.t1", "cartridge.t2"}}}}
	app.AliasToGroupMap = map[string]*model.Group{"g6": g6}
	return ApplicationSpec{App: app, Clusters: []ClusterSpec{spec("lb"), spec("tomcat"), spec("t1"), spec("t2")}}
}

func newTreeAutoscaler(t *testing.T) (*Autoscaler, *treeWorld) {
	t.Helper()
	w := &treeWorld{}
	a, err := New(Options{Policies: &staticPolicies{buildSet(t, scalingPolicies("round-robin", "enforce", ""))}, Starter: w, Bus: w})
	if err != nil {
		t.Fatal(err)
	}
	return a, w
}

// activate is the controller's answer to the autoscaler's ClusterStatusClusterActivatedEvent.
func activate(a *Autoscaler, alias string) {
	a.HandleEvent(&model.ClusterInstanceActivatedEvent{ServiceName: alias, ClusterID: model.ClusterID("app", alias, alias),
		AppID: "app", InstanceID: "app-1"})
}

// TestTreeStartupOrder deploys an application with a startup order at the top and in a group and
// activates its cluster instances one by one: each child is created (its first member started,
// its group instance announced) only once its predecessor is Active, the group instance becomes
// Active with its last cluster and the application instance with the group. The sequence of
// starts and events is testdata/tree-startup-order.golden.
func TestTreeStartupOrder(t *testing.T) {
	a, w := newTreeAutoscaler(t)
	ctx := context.Background()
	if err := a.AddApplication(treeApp()); err != nil {
		t.Fatal(err)
	}
	if err := a.DeployApplication("app", []string{"np1"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	step := func(name string) {
		a.Evaluate(ctx)
		got = append(got, "# "+name)
		for _, l := range w.take() {
			if strings.HasPrefix(l, "start ") || strings.HasPrefix(l, "application.") || strings.HasPrefix(l, "cluster.status.") {
				got = append(got, l)
			}
		}
	}
	step("deploy")
	for _, alias := range []string{"lb", "tomcat", "t1", "t2"} {
		activate(a, alias)
		step(alias + " active")
	}
	// CompleteApplicationsEvent as Stratos writes it, with the application and group instances.
	b, err := json.MarshalIndent(&model.CompleteApplicationsEvent{Applications: a.Applications()}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "tree-complete-applications.golden", string(b)+"\n")
	// The undeploy: Terminating top-down, Terminated bottom-up, the application instance last.
	a.UndeployApplication("app", false)
	step("undeploy")
	for _, alias := range []string{"lb", "tomcat", "t1", "t2"} {
		a.HandleEvent(&model.ClusterInstanceTerminatedEvent{ServiceName: alias, ClusterID: model.ClusterID("app", alias, alias),
			AppID: "app", InstanceID: "app-1"})
		step(alias + " terminated")
	}
	a.UndeployApplication("app", true)
	step("clusters removed")
	if apps := a.Applications(); len(apps.ApplicationMap["app"].InstanceIDToInstanceContextMap) != 0 {
		t.Errorf("instances after the undeploy: %v", apps.ApplicationMap["app"].InstanceIDToInstanceContextMap)
	}
	checkGolden(t, "tree-startup-order.golden", strings.Join(got, "\n")+"\n")
}

// TestTreeWaitIsExplained: a child that waits for its startup order has a decision that says
// so, for `strata explain` of its cluster.
func TestTreeWaitIsExplained(t *testing.T) {
	a, _ := newTreeAutoscaler(t)
	if err := a.AddApplication(treeApp()); err != nil {
		t.Fatal(err)
	}
	if err := a.DeployApplication("app", []string{"np1"}); err != nil {
		t.Fatal(err)
	}
	for cluster, want := range map[string]string{
		model.ClusterID("app", "tomcat", "tomcat"): "waiting for cartridge.lb to be Active",
		model.ClusterID("app", "t1", "t1"):         "group g6 waiting for cartridge.tomcat to be Active",
	} {
		ds := a.Decisions(cluster, 5)
		if len(ds) == 0 {
			t.Errorf("%s: no decision", cluster)
			continue
		}
		d := ds[len(ds)-1]
		if d.Action != ActionWaiting || d.Reason != want {
			t.Errorf("%s: decision %s %q, want %s %q", cluster, d.Action, d.Reason, ActionWaiting, want)
		}
		var b strings.Builder
		if err := RenderTrace(&b, d); err != nil || !strings.Contains(b.String(), want) {
			t.Errorf("%s: explained as %q (%v), want it to say %q", cluster, b.String(), err, want)
		}
	}
}

// TestTreeFlatApplication: an application of one cartridge and no dependencies starts its
// cluster instance at deploy, as before the tree, and is Active with it.
func TestTreeFlatApplication(t *testing.T) {
	a, w := newTreeAutoscaler(t)
	spec := treeApp()
	spec.App.AliasToGroupMap, spec.App.DependencyOrder = nil, nil
	delete(spec.App.AliasToClusterDataMap, "tomcat")
	spec.Clusters = spec.Clusters[:1]
	if err := a.AddApplication(spec); err != nil {
		t.Fatal(err)
	}
	if err := a.DeployApplication("app", []string{"np1"}); err != nil {
		t.Fatal(err)
	}
	a.Evaluate(context.Background())
	if !containsPrefix(w.take(), "start "+model.ClusterID("app", "lb", "lb")+" app-1") {
		t.Fatal("the flat application's cluster instance was not started at deploy")
	}
	activate(a, "lb")
	a.Evaluate(context.Background())
	if !containsPrefix(w.take(), `application.ApplicationInstanceActivatedEvent {"appId":"app","instanceId":"app-1"}`) {
		t.Fatal("the flat application's instance did not become Active with its cluster")
	}
}

func containsPrefix(log []string, p string) bool {
	for _, l := range log {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s (-want +got):\n%s", path, d)
	}
}

// TestTreeInactiveFlowsUp: a cluster instance of a group going Inactive makes its group instance
// and the application instance Inactive; Active again, both are Active again.
func TestTreeInactiveFlowsUp(t *testing.T) {
	a, w := newTreeAutoscaler(t)
	ctx := context.Background()
	if err := a.AddApplication(treeApp()); err != nil {
		t.Fatal(err)
	}
	if err := a.DeployApplication("app", []string{"np1"}); err != nil {
		t.Fatal(err)
	}
	for _, alias := range []string{"lb", "tomcat", "t1", "t2"} {
		activate(a, alias)
	}
	a.Evaluate(ctx)
	w.take()
	events := func() []string {
		a.Evaluate(ctx)
		var out []string
		for _, l := range w.take() {
			if strings.HasPrefix(l, "application.") {
				out = append(out, l)
			}
		}
		return out
	}
	a.HandleEvent(&model.ClusterInstanceInactivateEvent{ServiceName: "t1", ClusterID: model.ClusterID("app", "t1", "t1"), AppID: "app", InstanceID: "app-1"})
	want := []string{
		`application.GroupInstanceInactivatedEvent {"groupId":"g6","appId":"app","instanceId":"app-1"}`,
		`application.ApplicationInstanceInactivatedEvent {"appId":"app","instanceId":"app-1"}`,
	}
	if d := cmp.Diff(want, events()); d != "" {
		t.Errorf("events of the Inactive cluster instance (-want +got):\n%s", d)
	}
	activate(a, "t1")
	want = []string{
		`application.GroupInstanceActivatedEvent {"groupId":"g6","appId":"app","instanceId":"app-1"}`,
		`application.ApplicationInstanceActivatedEvent {"appId":"app","instanceId":"app-1"}`,
	}
	if d := cmp.Diff(want, events()); d != "" {
		t.Errorf("events of the cluster instance Active again (-want +got):\n%s", d)
	}
	if st := a.Applications().ApplicationMap["app"].InstanceIDToInstanceContextMap["app-1"].LifeCycleStateManager.StateStack; !slices.Equal(st,
		[]model.ApplicationStatus{model.ApplicationCreated, model.ApplicationActive, model.ApplicationInactive, model.ApplicationActive}) {
		t.Errorf("application instance states %v", st)
	}
}

// TestTreeUpdate: adding a known application again announces it updated, and its running
// cluster instances take the new min.
func TestTreeUpdate(t *testing.T) {
	a, w := newTreeAutoscaler(t)
	if err := a.AddApplication(treeApp()); err != nil {
		t.Fatal(err)
	}
	if err := a.DeployApplication("app", []string{"np1"}); err != nil {
		t.Fatal(err)
	}
	a.Evaluate(context.Background())
	w.take()
	spec := treeApp()
	spec.Clusters[0].Min = 2
	if err := a.AddApplication(spec); err != nil {
		t.Fatal(err)
	}
	a.Evaluate(context.Background())
	if !containsPrefix(w.take(), `application.ApplicationUpdatedEvent {"application":{"id":"app"`) {
		t.Error("no ApplicationUpdatedEvent")
	}
	a.mu.Lock()
	in := a.instanceLocked(model.ClusterID("app", "lb", "lb"), "app-1")
	a.mu.Unlock()
	if in == nil || in.min != 2 {
		t.Errorf("lb's instance %+v, want min 2", in)
	}
}

// TestTreePoliciesInUse: the policies of a cluster still waiting for its startup order are in
// use (a policy reload must not take them away before the cluster is created).
func TestTreePoliciesInUse(t *testing.T) {
	a, _ := newTreeAutoscaler(t)
	spec := treeApp()
	spec.Clusters[3].AutoscalePolicy = "as-t2" // t2 waits for t1, which waits for the group
	if err := a.AddApplication(spec); err != nil {
		t.Fatal(err)
	}
	if err := a.DeployApplication("app", []string{"np1"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(a.PoliciesInUse(), policies.Ref{Kind: policies.KindAutoscaling, ID: "as-t2"}) {
		t.Errorf("PoliciesInUse = %v, want as-t2 of the waiting cluster", a.PoliciesInUse())
	}
}
