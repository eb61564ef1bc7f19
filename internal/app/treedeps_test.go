package app

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// Termination behaviour and the live update of an application with a group, in process with the
// mock driver and the mock IaaS: the cartridges, policies and partitions of Stratos'
// application-bursting-test, a group of three of its cartridges (esb before php, tomcat without
// an order) with the termination behaviour under test, and a php cartridge outside the group.

const termApp = "term-app"

// termGroup is the group definition with the termination behaviour given.
func termGroup(behaviour string) string {
	return fmt.Sprintf(`{"name": "term-group",
  "cartridges": ["esb-%[1]s", "php-%[1]s", "tomcat-%[1]s"],
  "dependencies": {"startupOrders": [{"aliases": ["cartridge.my-esb", "cartridge.my-php"]}],
    "terminationBehaviour": %[2]q}}`, burstT, behaviour)
}

// termApplication is the application: the group (groupMinInstances min) and my-top outside it.
func termApplication(groupMin, phpMin int) string {
	cart := func(typ, alias string, min int) string {
		return fmt.Sprintf(`{"type": "%s-%s", "cartridgeMin": %d, "cartridgeMax": 3, "subscribableInfo": {"alias": %q,
      "autoscalingPolicy": "autoscaling-policy-%[2]s", "deploymentPolicy": "deployment-policy-%[2]s"}}`, typ, burstT, min, alias)
	}
	return fmt.Sprintf(`{"applicationId": %q, "alias": "term", "components": {
  "groups": [{"name": "term-group", "alias": "my-group", "groupMinInstances": %d, "groupMaxInstances": 3,
    "cartridges": [%s, %s, %s]}],
  "cartridges": [%s]}}`, termApp, groupMin, cart("esb", "my-esb", 1), cart("php", "my-php", phpMin), cart("tomcat", "my-tomcat", 1),
		cart("php", "my-top", 1))
}

// termCluster is the cluster id of an alias of the application.
func termCluster(alias string) string {
	typ := map[string]string{"my-esb": "esb", "my-php": "php", "my-tomcat": "tomcat", "my-top": "php"}[alias]
	return model.ClusterID(termApp, alias, typ+"-"+burstT)
}

// deployTerm posts everything, deploys the application in the first network partition and waits
// until it is Active.
func deployTerm(t *testing.T, behaviour string) *itRun {
	t.Helper()
	o := testOptions(t)
	o.LB = false
	o.CEP.FaultTimeout, o.CEP.FaultCheckInterval = 2*time.Second, 100*time.Millisecond
	r := newIT(t, burstT, o)
	r.add("autoscalingPolicies", "autoscaling-policies/autoscaling-policy-"+burstT+".json")
	for _, c := range []string{"esb", "php", "tomcat"} {
		r.add("cartridges", "cartridges/mock/"+c+"-"+burstT+".json")
	}
	r.add("networkPartitions", "network-partitions/mock/network-partition-"+burstT+"-1.json")
	r.add("networkPartitions", "network-partitions/mock/network-partition-"+burstT+"-2.json")
	r.add("deploymentPolicies", "deployment-policies/deployment-policy-"+burstT+".json")
	for _, p := range []struct{ coll, body string }{
		{"cartridgeGroups", termGroup(behaviour)},
		{"applications", termApplication(1, 1)},
		{"applicationPolicies", `{"id": "term-policy", "algorithm": "one-after-another", "networkPartitions": ["network-partition-` + burstT + `-1"]}`},
	} {
		if code, body := r.call(http.MethodPost, "/"+p.coll, p.body); !ok2xx(code) {
			t.Fatalf("POST /%s = %d %s", p.coll, code, body)
		}
	}
	r.deploy(termApp, "term-policy")
	r.activeWait(termApp)
	r.clusterCheck(termApp)
	return r
}

// faultMember makes the Active member of the cluster of alias silent through the mock IaaS
// (DELETE /mock-iaas/api/instances/{id}): the CEP declares it faulty, its cluster instance goes
// Inactive. It returns the member and the sequence number of the bus's next event.
func faultMember(t *testing.T, r *itRun, alias string) (string, int) {
	t.Helper()
	ids := activeMembers(r.s, termCluster(alias))
	if len(ids) != 1 {
		t.Fatalf("Active members of %s: %v, want one", alias, ids)
	}
	after := len(r.bus.all(""))
	base := "http://" + r.s.app.Addrs().API.String() + "/mock-iaas/api"
	if code, body := call(t, r.client, http.MethodDelete, base+"/instances/"+ids[0], ""); code != http.StatusOK {
		t.Fatalf("DELETE instances/%s = %d %s", ids[0], code, body)
	}
	return ids[0], after
}

// terminatingAliases are the aliases whose cluster instances the bus saw Terminating from seq on.
func terminatingAliases(r *itRun, from int) []string {
	var out []string
	for _, e := range r.bus.all("ClusterInstanceTerminatingEvent") {
		if e.Seq < from {
			continue
		}
		for _, al := range []string{"my-esb", "my-php", "my-tomcat", "my-top"} {
			if e.Field("clusterId") == termCluster(al) {
				out = append(out, al)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// since counts the events of class from seq on.
func since(r *itRun, class string, from int) int {
	n := 0
	for _, e := range r.bus.all(class) {
		if e.Seq >= from {
			n++
		}
	}
	return n
}

// TestTerminateAllInProcess: with terminate-all, the fault of esb's member terminates every
// cluster of the group and the group instance, which is created again and becomes Active; the
// cartridge outside the group keeps its member.
func TestTerminateAllInProcess(t *testing.T) {
	t.Parallel()
	checkTerminateAll(t, deployTerm(t, "terminate-all"), nil)
}

// TestTerminateAllWithCompleteTopologies: the recovery of TestTerminateAllInProcess while
// complete topologies keep arriving, as they do in production where every cartridge agent asks
// for one when it starts. The first request goes out as soon as the group's cluster instances
// begin terminating, so that its answer shows them Terminating: a snapshot the autoscaler still
// holds when the group instance is created again with the same cluster instance ids, which must
// start afresh.
func TestTerminateAllWithCompleteTopologies(t *testing.T) {
	t.Parallel()
	r := deployTerm(t, "terminate-all")
	checkTerminateAll(t, r, askTopologiesAfter(t, r, "ClusterInstanceTerminatingEvent"))
}

// askTopologiesAfter returns a function that waits for the first event of class from the bus
// sequence number it is given on, then asks for complete topologies every 150 ms for 9 s
// (askTopologies).
func askTopologiesAfter(t *testing.T, r *itRun, class string) func(from int) {
	return func(from int) {
		t.Helper()
		r.bus.await(t, 60*time.Second, class, func(e itEvent) bool { return e.Seq >= from })
		askTopologies(t, r, 150*time.Millisecond, 9*time.Second)
	}
}

// askTopologies publishes a CompleteTopologyRequestEvent every interval for d, from now on, as
// starting cartridge agents do, until d has passed or the test ends.
func askTopologies(t *testing.T, r *itRun, every, d time.Duration) {
	t.Helper()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		end := time.After(d)
		for {
			if err := r.bus.client.PublishEvent(r.bus.ctx, model.CompleteTopologyRequestEvent{}); err != nil {
				t.Errorf("publish CompleteTopologyRequestEvent: %v", err)
				return
			}
			select {
			case <-tick.C:
			case <-end:
				return
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

// checkTerminateAll faults esb's member of a platform deployed by deployTerm with terminate-all,
// calls during (if not nil) with the bus sequence number of the fault, and checks the recovery.
func checkTerminateAll(t *testing.T, r *itRun, during func(from int)) {
	t.Helper()
	top := activeMembers(r.s, termCluster("my-top"))
	_, from := faultMember(t, r, "my-esb")
	if during != nil {
		during(from)
	}
	r.bus.await(t, 120*time.Second, "GroupInstanceActivatedEvent", func(e itEvent) bool {
		return e.Seq >= from && since(r, "GroupInstanceCreatedEvent", from) > 0
	})
	if got, want := terminatingAliases(r, from), []string{"my-esb", "my-php", "my-tomcat"}; !slices.Equal(got, want) {
		t.Errorf("cluster instances Terminating after esb's fault: %v, want %v", got, want)
	}
	if n := since(r, "GroupInstanceTerminatedEvent", from); n != 1 {
		t.Errorf("%d GroupInstanceTerminatedEvent after the fault, want 1", n)
	}
	testenv.Eventually(t, 120*time.Second, "every cluster at its min again", func() bool { return r.clusterProblem(termApp) == "" })
	if now := activeMembers(r.s, termCluster("my-top")); !slices.Equal(now, top) {
		t.Errorf("my-top's members %v after the recovery, want %v untouched", now, top)
	}
	// The history (what strata explain reads) says why tomcat was terminated.
	code, body := r.call(http.MethodGet, "/history/decisions?cluster="+termCluster("my-tomcat")+"&limit=1000", "")
	if code != http.StatusOK || !strings.Contains(body, `"action":"tree"`) ||
		!strings.Contains(body, "cartridge.my-esb went Inactive in group my-group instance "+termApp+"-1; terminate-all") {
		t.Errorf("GET /history/decisions for tomcat = %d, lacks the tree's decision with its reason: %.2000s", code, body)
	}
}

// TestTerminateNoneInProcess: with terminate-none, only the faulty member is replaced.
func TestTerminateNoneInProcess(t *testing.T) {
	t.Parallel()
	checkTerminateNone(t, deployTerm(t, "terminate-none"), nil)
}

// TestTerminateNoneWithCompleteTopologies: TestTerminateNoneInProcess with complete topologies
// asked for from esb's Inactive on.
func TestTerminateNoneWithCompleteTopologies(t *testing.T) {
	t.Parallel()
	r := deployTerm(t, "terminate-none")
	checkTerminateNone(t, r, askTopologiesAfter(t, r, "ClusterInstanceInactivateEvent"))
}

// checkTerminateNone faults esb's member of a platform deployed by deployTerm with
// terminate-none, calls during (if not nil) with the bus sequence number of the fault, and checks
// the recovery.
func checkTerminateNone(t *testing.T, r *itRun, during func(from int)) {
	t.Helper()
	php := activeMembers(r.s, termCluster("my-php"))
	killed, from := faultMember(t, r, "my-esb")
	if during != nil {
		during(from)
	}
	testenv.Eventually(t, 120*time.Second, "esb's member replaced", func() bool {
		ids := activeMembers(r.s, termCluster("my-esb"))
		return len(ids) == 1 && ids[0] != killed
	})
	if got := terminatingAliases(r, from); len(got) != 0 {
		t.Errorf("cluster instances Terminating after esb's fault: %v, want none", got)
	}
	if n := since(r, "GroupInstanceTerminatingEvent", from); n != 0 {
		t.Errorf("%d GroupInstanceTerminatingEvent, want none", n)
	}
	if now := activeMembers(r.s, termCluster("my-php")); !slices.Equal(now, php) {
		t.Errorf("php's members %v, want %v untouched", now, php)
	}
}

// TestTerminateDependentsInProcess: with terminate-dependents, esb's fault terminates esb and php
// (which follows it), not tomcat (no order) and not the group instance; esb and php start again.
func TestTerminateDependentsInProcess(t *testing.T) {
	t.Parallel()
	checkTerminateDependents(t, deployTerm(t, "terminate-dependents"), nil)
}

// TestTerminateDependentsWithCompleteTopologies: TestTerminateDependentsInProcess with complete
// topologies asked for from the first cluster instance Terminating on: esb and php are created
// again with the instance ids they had, and must not take the status a snapshot showed of the
// instances before them.
func TestTerminateDependentsWithCompleteTopologies(t *testing.T) {
	t.Parallel()
	r := deployTerm(t, "terminate-dependents")
	checkTerminateDependents(t, r, askTopologiesAfter(t, r, "ClusterInstanceTerminatingEvent"))
}

// checkTerminateDependents faults esb's member of a platform deployed by deployTerm with
// terminate-dependents, calls during (if not nil) with the bus sequence number of the fault, and
// checks the recovery.
func checkTerminateDependents(t *testing.T, r *itRun, during func(from int)) {
	t.Helper()
	tomcat := activeMembers(r.s, termCluster("my-tomcat"))
	_, from := faultMember(t, r, "my-esb")
	if during != nil {
		during(from)
	}
	testenv.Eventually(t, 120*time.Second, "esb and php Terminated and Active again", func() bool {
		terminated := 0
		for _, e := range r.bus.all("ClusterInstanceTerminatedEvent") {
			if e.Seq >= from && (e.Field("clusterId") == termCluster("my-esb") || e.Field("clusterId") == termCluster("my-php")) {
				terminated++
			}
		}
		return terminated == 2 && r.clusterProblem(termApp) == ""
	})
	if got, want := terminatingAliases(r, from), []string{"my-esb", "my-php"}; !slices.Equal(got, want) {
		t.Errorf("cluster instances Terminating after esb's fault: %v, want %v", got, want)
	}
	if n := since(r, "GroupInstanceTerminatingEvent", from); n != 0 {
		t.Errorf("%d GroupInstanceTerminatingEvent, want none", n)
	}
	if now := activeMembers(r.s, termCluster("my-tomcat")); !slices.Equal(now, tomcat) {
		t.Errorf("tomcat's members %v, want %v untouched", now, tomcat)
	}
}

// TestUpdateDeployedGroup: PUT /api/applications on the deployed application with a higher
// groupMinInstances and a higher cartridgeMin inside the group: a second group instance is
// created with its clusters, php reaches the new min in every group instance, and no member that
// ran before is restarted.
func TestUpdateDeployedGroup(t *testing.T) {
	t.Parallel()
	r := deployTerm(t, "terminate-none")
	before := map[string][]string{}
	for _, al := range []string{"my-esb", "my-php", "my-tomcat", "my-top"} {
		before[al] = activeMembers(r.s, termCluster(al))
	}
	if code, body := r.call(http.MethodPut, "/applications", termApplication(2, 2)); code != http.StatusCreated {
		t.Fatalf("PUT with groupMinInstances 2 and php's cartridgeMin 2 = %d %s, want 201", code, body)
	}
	testenv.Eventually(t, 120*time.Second, "two group instances, php at 2 in each", func() bool {
		byInstance := map[string]int{}
		for _, m := range r.s.app.Controller().Members(termCluster("my-php")) {
			if m.Status() == model.MemberActive {
				byInstance[m.ClusterInstanceID]++
			}
		}
		return len(byInstance) == 2 && byInstance[termApp+"-1"] == 2 && r.clusterProblem(termApp) == ""
	})
	for al, ids := range before {
		now := activeMembers(r.s, termCluster(al))
		for _, id := range ids {
			if !slices.Contains(now, id) {
				t.Errorf("%s's member %s is gone after the update (Active now: %v): it was restarted", al, id, now)
			}
		}
	}
	if n := len(r.bus.all("ApplicationUpdatedEvent")); n == 0 {
		t.Error("no ApplicationUpdatedEvent on the applications topic")
	}
}

// TestUpdateDeployedAddsGroup: PUT /api/applications on the deployed application with a second
// group of the same definition: its clusters are created, its group instance becomes Active with
// members in each, in its startup order, and nothing that ran before is restarted.
func TestUpdateDeployedAddsGroup(t *testing.T) {
	t.Parallel()
	r := deployTerm(t, "terminate-none")
	before := map[string][]string{}
	for _, al := range []string{"my-esb", "my-php", "my-tomcat", "my-top"} {
		before[al] = activeMembers(r.s, termCluster(al))
	}
	cart := func(typ, alias string) string {
		return fmt.Sprintf(`{"type": "%s-%s", "cartridgeMin": 1, "cartridgeMax": 3, "subscribableInfo": {"alias": %q,
      "autoscalingPolicy": "autoscaling-policy-%[2]s", "deploymentPolicy": "deployment-policy-%[2]s"}}`, typ, burstT, alias)
	}
	// A second definition: a group's startup order names the application's aliases.
	def := strings.NewReplacer(`"term-group"`, `"term-group2"`, "my-esb", "my-esb2", "my-php", "my-php2").Replace(termGroup("terminate-none"))
	if code, body := r.call(http.MethodPost, "/cartridgeGroups", def); !ok2xx(code) {
		t.Fatalf("POST /cartridgeGroups = %d %s", code, body)
	}
	second := fmt.Sprintf(`{"name": "term-group2", "alias": "my-group2", "groupMinInstances": 1, "groupMaxInstances": 1,
    "cartridges": [%s, %s, %s]}`, cart("esb", "my-esb2"), cart("php", "my-php2"), cart("tomcat", "my-tomcat2"))
	app := termApplication(1, 1)
	i := strings.Index(app, `"cartridges": [{"type": "php-`+burstT+`", "cartridgeMin": 1, "cartridgeMax": 3, "subscribableInfo": {"alias": "my-top"`)
	j := strings.LastIndex(app[:i], "]")
	grown := app[:j] + ", " + second + app[j:]
	if code, body := r.call(http.MethodPut, "/applications", grown); code != http.StatusCreated {
		t.Fatalf("PUT with a second group = %d %s, want 201", code, body)
	}
	r.bus.await(t, 120*time.Second, "GroupInstanceActivatedEvent", func(e itEvent) bool { return e.Field("groupId") == "my-group2" })
	esb2 := model.ClusterID(termApp, "my-esb2", "esb-"+burstT)
	php2 := model.ClusterID(termApp, "my-php2", "php-"+burstT)
	if len(activeMembers(r.s, esb2)) != 1 || len(activeMembers(r.s, php2)) != 1 {
		t.Errorf("the added group's esb and php run %v and %v, want one Active member each", activeMembers(r.s, esb2), activeMembers(r.s, php2))
	}
	ord := &itOrder{r: r, app: termApp, instance: termApp + "-1", clusters: map[string]string{"my-esb2": esb2, "my-php2": php2}}
	ord.before("cartridge.my-esb2", "cartridge.my-php2")
	for al, ids := range before {
		now := activeMembers(r.s, termCluster(al))
		for _, id := range ids {
			if !slices.Contains(now, id) {
				t.Errorf("%s's member %s is gone after the update (Active now: %v): it was restarted", al, id, now)
			}
		}
	}
}
