package app

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// Scenarios 2 (group-startup-order-test) and 4 (application-bursting-test) of testdata/stratos-it,
// which need the application monitor tree: the files posted unchanged in the test's order, every
// assertion of the README.

// appActive waits up to 300 s (the README's Active wait) for ApplicationInstanceActivatedEvent of
// the application on the applications topic.
func (r *itRun) appActive(app string) {
	r.t.Helper()
	r.bus.await(r.t, 300*time.Second, "ApplicationInstanceActivatedEvent", func(e itEvent) bool { return e.Field("appId") == app })
}

// noInstances checks, after an undeploy, that the application has no instances on the
// applications topic (the README's undeploy wait; the harness's undeployed checks the topology).
func (r *itRun) noInstances(app string) {
	r.t.Helper()
	testenv.Eventually(r.t, 30*time.Second, app+" without instances on the applications topic", func() bool {
		return len(r.bus.application(r.t, app).InstanceIDToInstanceContextMap) == 0
	})
}

// itRuntime is the runtime view (§5.11) as the checks read it.
type itRuntime struct {
	Status               string
	ApplicationInstances []struct {
		Status           string
		InstanceID       string
		GroupInstances   []itRuntimeGroup
		ClusterInstances []struct{ Alias, Status, InstanceID string }
	}
}

type itRuntimeGroup struct {
	ParentInstanceID, GroupID, InstanceID, Status string
	GroupInstances                                []itRuntimeGroup
	ClusterInstances                              []struct{ Alias, Status, InstanceID string }
}

// checkRuntime checks the runtime view of scenario 2's Active application: Active, with the
// group instances nested as the application nests its groups, each Active and listing the
// cluster instances of its own cartridges.
func (r *itRun) checkRuntime(app string) {
	r.t.Helper()
	var rt itRuntime
	r.getJSON("applications", app+"/runtime", &rt)
	if rt.Status != "Active" || len(rt.ApplicationInstances) != 1 || rt.ApplicationInstances[0].Status != "Active" {
		r.t.Fatalf("runtime of %s: %+v, want Active with one Active application instance", app, rt)
	}
	var got []string
	var walk func(prefix string, gs []itRuntimeGroup)
	walk = func(prefix string, gs []itRuntimeGroup) {
		for _, g := range gs {
			p := prefix + "/" + strings.TrimSuffix(strings.TrimPrefix(g.GroupID, "my-"), "-"+startupT)
			got = append(got, p+" "+g.InstanceID+" "+g.Status+" parent "+g.ParentInstanceID)
			for _, c := range g.ClusterInstances {
				got = append(got, p+" cluster "+strings.TrimSuffix(strings.TrimPrefix(c.Alias, "my-"), "-"+startupT)+" "+c.Status)
			}
			walk(p, g.GroupInstances)
		}
	}
	ai := rt.ApplicationInstances[0]
	for _, c := range ai.ClusterInstances {
		got = append(got, "cluster "+strings.TrimSuffix(strings.TrimPrefix(c.Alias, "my-"), "-"+startupT)+" "+c.Status)
	}
	walk("", ai.GroupInstances)
	i := app + "-1"
	want := []string{
		"cluster stratos-lb Active", "cluster tomcat Active",
		"/group6 " + i + " Active parent " + i,
		"/group6/group6-group-tom2 " + i + " Active parent " + i,
		"/group6/group6-group-tom2 cluster group-tom2-tomcat2 Active", "/group6/group6-group-tom2 cluster group-tom2-tomcat3 Active",
		"/group6/group7 " + i + " Active parent " + i,
		"/group6/group7 cluster group7-tomcat Active", "/group6/group7 cluster group7-tomcat1 Active",
		"/group8 " + i + " Active parent " + i,
		"/group8 cluster tomcat-group8 Active", "/group8 cluster tomcat2-group8 Active",
		"/group8/group9 " + i + " Active parent " + i,
		"/group8/group9 cluster tomcat1-group9 Active",
	}
	if d := cmp.Diff(want, got); d != "" {
		r.t.Errorf("runtime of %s (-want +got):\n%s", app, d)
	}
}

// clusterIDs are the cluster ids by alias that the application's ApplicationCreatedEvent gives,
// at any depth.
func (r *itRun) clusterIDs(app string) map[string]string {
	r.t.Helper()
	e := r.bus.await(r.t, 20*time.Second, "ApplicationCreatedEvent", func(e itEvent) bool {
		var ev model.ApplicationCreatedEvent
		return json.Unmarshal(e.Body, &ev) == nil && ev.Application != nil && ev.Application.ID == app
	})
	var ev model.ApplicationCreatedEvent
	if err := json.Unmarshal(e.Body, &ev); err != nil {
		r.t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(data map[string]model.ClusterDataHolder, groups map[string]*model.Group)
	walk = func(data map[string]model.ClusterDataHolder, groups map[string]*model.Group) {
		for alias, d := range data {
			out[alias] = d.ClusterID
		}
		for _, g := range groups {
			walk(g.AliasToClusterDataMap, g.AliasToGroupMap)
		}
	}
	walk(ev.Application.AliasToClusterDataMap, ev.Application.AliasToGroupMap)
	return out
}

// itOrder finds the bus's Created and Active events of an application's clusters and groups.
type itOrder struct {
	r        *itRun
	app      string
	instance string            // the application instance id; nested groups reuse it
	clusters map[string]string // cluster id by alias
}

// created and active are the arrival sequence numbers of the first Created and Active event of
// "cartridge.<alias>" or "group.<alias>", waiting up to 500 s (the README's limit); -1 when none.
func (o *itOrder) created(key string) int { return o.seq(key, false) }
func (o *itOrder) active(key string) int  { return o.seq(key, true) }

func (o *itOrder) seq(key string, active bool) int {
	o.r.t.Helper()
	kind, alias, _ := strings.Cut(key, ".")
	var class string
	var match func(itEvent) bool
	if kind == "cartridge" {
		id := o.clusters[alias]
		if id == "" {
			o.r.t.Fatalf("no cluster id for alias %s on the applications topic", alias)
		}
		class = "ClusterInstanceCreatedEvent"
		if active {
			class = "ClusterInstanceActivatedEvent"
		}
		match = func(e itEvent) bool { return e.Field("clusterId") == id }
	} else {
		class = "GroupInstanceCreatedEvent"
		if active {
			class = "GroupInstanceActivatedEvent"
		}
		match = func(e itEvent) bool {
			var ev struct {
				GroupID, AppID, InstanceID string
				GroupInstance              *struct{ InstanceID string }
			}
			if json.Unmarshal(e.Body, &ev) != nil || ev.GroupID != alias || ev.AppID != o.app {
				return false
			}
			if ev.GroupInstance != nil {
				ev.InstanceID = ev.GroupInstance.InstanceID
			}
			return ev.InstanceID == o.instance
		}
	}
	return o.r.bus.await(o.r.t, 500*time.Second, class, match).Seq
}

// before checks that a's Active event arrived strictly before b's Created event.
func (o *itOrder) before(a, b string) {
	o.r.t.Helper()
	if ab, bc := o.active(a), o.created(b); ab >= bc {
		o.r.t.Errorf("startup order: %s became Active (event %d) after %s was created (event %d)", a, ab, b, bc)
	}
}

const startupT = "group-startup-order-test"

// startupName is a name of the startup-order scenario: "my-<name>-<t>".
func startupName(kind, name string) string { return kind + ".my-" + name + "-" + startupT }

// TestStratosITGroupStartupOrder is scenario 2: startup-order dependencies between clusters and
// nested groups are honoured on deploy.
func TestStratosITGroupStartupOrder(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	o.LB = false // the scenario needs no load balancer, and its proxy ports are fixed
	r := newIT(t, startupT, o)
	r.bus.complete(t, "CompleteApplicationsEvent", "CompleteTopologyEvent", "CompleteTenantEvent", "CompleteApplicationSignUpsEvent")
	const app = startupT
	r.add("autoscalingPolicies", "autoscaling-policies/autoscaling-policy-"+startupT+".json")
	for _, c := range []string{"esb", "php", "stratos-lb", "tomcat1", "tomcat2", "tomcat3", "tomcat"} {
		r.add("cartridges", "cartridges/mock/"+c+"-"+startupT+".json")
	}
	r.add("cartridgeGroups", "cartridges-groups/group6-"+startupT+".json")
	r.add("cartridgeGroups", "cartridges-groups/group8-"+startupT+".json")
	r.add("networkPartitions", "network-partitions/mock/network-partition-"+startupT+"-1.json")
	r.add("deploymentPolicies", "deployment-policies/deployment-policy-"+startupT+".json")
	r.add("applications", "applications/"+startupT+".json")
	if _, found := r.get("applications", app); !found {
		t.Fatalf("Get application %s: 404", app)
	}
	r.add("applicationPolicies", "application-policies/application-policy-"+startupT+".json")
	r.deploy(app, "application-policy-"+startupT)

	ord := &itOrder{r: r, app: app, instance: app + "-1", clusters: r.clusterIDs(app)}
	c := func(n string) string { return startupName("cartridge", n) }
	g := func(n string) string { return startupName("group", n) }
	ord.before(c("stratos-lb"), c("tomcat"))                     // 1
	ord.before(c("tomcat"), g("group6"))                         // 2
	ord.created(g("group6"))                                     // 3
	ord.created(g("group8"))                                     //
	ord.before(c("tomcat"), g("group8"))                         // 4
	ord.created(g("group7"))                                     // 5
	ord.created(g("group6-group-tom2"))                          //
	ord.before(c("group7-tomcat"), c("group7-tomcat1"))          // 6
	ord.before(c("group-tom2-tomcat2"), c("group-tom2-tomcat3")) // 7
	ord.created(c("tomcat2-group8"))                             // 8
	ord.created(c("tomcat-group8"))                              //

	r.appActive(app)
	r.groupCheck(app)
	r.clusterCheck(app)
	r.checkRuntime(app)
	// Why tomcat waited is in the decision history, for `strata explain`.
	tomcat := ord.clusters["my-tomcat-"+startupT]
	want := "waiting for cartridge.my-stratos-lb-" + startupT + " to be Active"
	testenv.Eventually(t, 10*time.Second, "the startup-order wait in the decision history", func() bool {
		var ds []model.Decision
		r.getJSON("history", "decisions?cluster="+tomcat+"&from=-1h", &ds)
		for _, d := range ds {
			if d.Action == "waiting" && d.Reason == want {
				return true
			}
		}
		return false
	})
	r.undeploy(app)
	r.noInstances(app)
	r.del("applications", app)
	r.absent("applications", app)
	for _, d := range [][2]string{
		{"cartridgeGroups", "group6-" + startupT}, {"cartridgeGroups", "group8-" + startupT},
		{"cartridges", "stratos-lb-" + startupT}, {"cartridges", "tomcat-" + startupT}, {"cartridges", "tomcat1-" + startupT},
		{"cartridges", "tomcat2-" + startupT}, {"cartridges", "tomcat3-" + startupT},
		{"autoscalingPolicies", "autoscaling-policy-" + startupT}, {"deploymentPolicies", "deployment-policy-" + startupT},
		{"applicationPolicies", "application-policy-" + startupT}, {"networkPartitions", "network-partition-" + startupT + "-1"},
	} {
		r.del(d[0], d[1])
	}
}

const burstT = "application-bursting-test"

// TestStratosITApplicationBursting is scenario 4: an application over two network partitions
// (a group with a startup order beside a cartridge) deploys, activates and tears down cleanly.
func TestStratosITApplicationBursting(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	o.LB = false // the scenario needs no load balancer, and its proxy ports are fixed
	r := newIT(t, burstT, o)
	r.bus.complete(t, "CompleteApplicationsEvent", "CompleteTopologyEvent", "CompleteTenantEvent", "CompleteApplicationSignUpsEvent")
	const app = burstT
	r.add("autoscalingPolicies", "autoscaling-policies/autoscaling-policy-"+burstT+".json")
	for _, c := range []string{"esb", "php", "tomcat"} {
		r.add("cartridges", "cartridges/mock/"+c+"-"+burstT+".json")
	}
	group := "esb-php-group-" + burstT
	r.add("cartridgeGroups", "cartridges-groups/"+group+".json")
	var gb struct{ Name string }
	r.getJSON("cartridgeGroups", group, &gb)
	if gb.Name != group {
		t.Errorf("Get group %s: name %q", group, gb.Name)
	}
	r.add("networkPartitions", "network-partitions/mock/network-partition-"+burstT+"-1.json")
	r.add("networkPartitions", "network-partitions/mock/network-partition-"+burstT+"-2.json")
	r.add("deploymentPolicies", "deployment-policies/deployment-policy-"+burstT+".json")
	r.add("applications", "applications/"+burstT+".json")
	if _, found := r.get("applications", app); !found {
		t.Fatalf("Get application %s: 404", app)
	}
	r.add("applicationPolicies", "application-policies/application-policy-"+burstT+".json")
	r.deploy(app, "application-policy-"+burstT)

	r.appActive(app)
	r.groupCheck(app)
	r.clusterCheck(app)
	// The group's startup order (esb before php) held in the application instance.
	ord := &itOrder{r: r, app: app, instance: app + "-1", clusters: r.clusterIDs(app)}
	ord.before("cartridge.my-esb-"+burstT, "cartridge.my-php-"+burstT)
	r.undeploy(app)
	r.noInstances(app)
	// Through the tree: Terminating top-down, Terminated bottom-up.
	inGroup := func(e itEvent) bool { return e.Field("appId") == app && e.Field("groupId") == "my-"+group }
	seq := func(class string, match func(itEvent) bool) int {
		return r.bus.await(t, 30*time.Second, class, match).Seq
	}
	appT := seq("ApplicationInstanceTerminatingEvent", func(e itEvent) bool { return e.Field("appId") == app })
	groupT := seq("GroupInstanceTerminatingEvent", inGroup)
	groupD := seq("GroupInstanceTerminatedEvent", inGroup)
	appD := seq("ApplicationInstanceTerminatedEvent", func(e itEvent) bool { return e.Field("appId") == app })
	if !(appT < groupT && groupT < groupD && groupD < appD) {
		t.Errorf("undeploy events: application Terminating %d, group Terminating %d, group Terminated %d, application Terminated %d; want that order",
			appT, groupT, groupD, appD)
	}
	r.del("applications", app)
	r.absent("applications", app)
	for _, d := range [][2]string{
		{"cartridgeGroups", group}, {"cartridges", "esb-" + burstT}, {"cartridges", "php-" + burstT}, {"cartridges", "tomcat-" + burstT},
		{"autoscalingPolicies", "autoscaling-policy-" + burstT}, {"deploymentPolicies", "deployment-policy-" + burstT},
		{"applicationPolicies", "application-policy-" + burstT},
		{"networkPartitions", "network-partition-" + burstT + "-1"}, {"networkPartitions", "network-partition-" + burstT + "-2"},
	} {
		r.del(d[0], d[1])
	}
}

// TestStartupOrderHolds20Of20 deploys scenario 2's application 20 times at once (ids
// sot-1..sot-20) in one platform and checks every startup order of the README in each, from the
// order in which the bus delivered the events.
func TestStartupOrderHolds20Of20(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	o.LB = false
	r := newIT(t, startupT, o)
	r.add("autoscalingPolicies", "autoscaling-policies/autoscaling-policy-"+startupT+".json")
	for _, c := range []string{"stratos-lb", "tomcat1", "tomcat2", "tomcat3", "tomcat"} {
		r.add("cartridges", "cartridges/mock/"+c+"-"+startupT+".json")
	}
	r.add("cartridgeGroups", "cartridges-groups/group6-"+startupT+".json")
	r.add("cartridgeGroups", "cartridges-groups/group8-"+startupT+".json")
	r.add("networkPartitions", "network-partitions/mock/network-partition-"+startupT+"-1.json")
	r.add("deploymentPolicies", "deployment-policies/deployment-policy-"+startupT+".json")
	r.add("applicationPolicies", "application-policies/application-policy-"+startupT+".json")
	def := r.file("applications/" + startupT + ".json")
	const runs = 20
	for i := 1; i <= runs; i++ {
		app := "sot-" + strconv.Itoa(i)
		body := strings.Replace(def, `"applicationId": "`+startupT+`"`, `"applicationId": "`+app+`"`, 1)
		if body == def {
			t.Fatal("the application's id is not where the test replaces it")
		}
		if code, out := r.call(http.MethodPost, "/applications", body); !ok2xx(code) {
			t.Fatalf("Add application %s = %d %s", app, code, out)
		}
	}
	for i := 1; i <= runs; i++ {
		r.deploy("sot-"+strconv.Itoa(i), "application-policy-"+startupT)
	}
	c := func(n string) string { return startupName("cartridge", n) }
	g := func(n string) string { return startupName("group", n) }
	for i := 1; i <= runs; i++ {
		app := "sot-" + strconv.Itoa(i)
		ord := &itOrder{r: r, app: app, instance: app + "-1", clusters: r.clusterIDs(app)}
		ord.before(c("stratos-lb"), c("tomcat"))
		ord.before(c("tomcat"), g("group6"))
		ord.before(c("tomcat"), g("group8"))
		ord.before(c("group7-tomcat"), c("group7-tomcat1"))
		ord.before(c("group-tom2-tomcat2"), c("group-tom2-tomcat3"))
		r.appActive(app)
	}
}

// deployBursting adds scenario 4's resources and deploys its application.
func (r *itRun) deployBursting() {
	r.t.Helper()
	r.add("autoscalingPolicies", "autoscaling-policies/autoscaling-policy-"+burstT+".json")
	for _, c := range []string{"esb", "php", "tomcat"} {
		r.add("cartridges", "cartridges/mock/"+c+"-"+burstT+".json")
	}
	r.add("cartridgeGroups", "cartridges-groups/esb-php-group-"+burstT+".json")
	r.add("networkPartitions", "network-partitions/mock/network-partition-"+burstT+"-1.json")
	r.add("networkPartitions", "network-partitions/mock/network-partition-"+burstT+"-2.json")
	r.add("deploymentPolicies", "deployment-policies/deployment-policy-"+burstT+".json")
	r.add("applications", "applications/"+burstT+".json")
	r.add("applicationPolicies", "application-policies/application-policy-"+burstT+".json")
	r.deploy(burstT, "application-policy-"+burstT)
}

// members are the ids of the application's members in the topology.
func (r *itRun) members(app string) []string {
	var out []string
	for _, svc := range r.s.app.Controller().Topology().ServiceMap {
		for _, c := range svc.ClusterIDClusterMap {
			if c.AppID != app {
				continue
			}
			for id, m := range c.MemberMap {
				if m.Status() != model.MemberTerminated {
					out = append(out, id)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// TestTreeRebuiltOnRestart: after a restart, a deployed application's tree is rebuilt from the
// stored application and the topology: its application and group instances are Active again
// on the applications topic and in the runtime view, and no member was started twice.
func TestTreeRebuiltOnRestart(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	o.LB = false
	r := newIT(t, burstT, o)
	r.deployBursting()
	r.appActive(burstT)
	testenv.Eventually(t, 60*time.Second, "the cluster check", func() bool { return r.clusterProblem(burstT) == "" })
	before := r.members(burstT)
	if err := r.s.stop(t); err != nil {
		t.Fatal(err)
	}
	o.AdminPassword = ""
	r = newIT(t, burstT, o)
	testenv.Eventually(t, 60*time.Second, "the application instance Active again on the applications topic", func() bool {
		a := r.bus.application(t, burstT)
		ai := a.InstanceIDToInstanceContextMap[burstT+"-1"]
		g := a.AliasToGroupMap["my-esb-php-group-"+burstT]
		if ai == nil || ai.Status() != model.ApplicationActive || g == nil {
			return false
		}
		gi := g.InstanceIDToInstanceContextMap[burstT+"-1"]
		return gi != nil && gi.Status() == model.GroupActive
	})
	var rt itRuntime
	r.getJSON("applications", burstT+"/runtime", &rt)
	if rt.Status != "Active" || len(rt.ApplicationInstances) == 0 || len(rt.ApplicationInstances[0].GroupInstances) != 1 {
		t.Errorf("runtime after the restart: %+v, want Active with its group instance", rt)
	}
	if after := r.members(burstT); !slices.Equal(before, after) {
		t.Errorf("members after the restart %v, want those before %v", after, before)
	}
}
