package app

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"testing"
)

// Stratos-IT scenario 1, sample-applications-test: CRUD and reference checks of a never-deployed
// application of three nested groups (testdata/stratos-it/README.md).

const sampleIT = "sample-applications-test"

// sampleSetup is steps 1 and 2 of both test methods, up to the application(s) given.
func sampleSetup(r *itRun, apps ...string) {
	r.t.Helper()
	r.add("autoscalingPolicies", "autoscaling-policies/autoscaling-policy-"+sampleIT+".json")
	for _, c := range []string{"c1", "c2", "c3"} {
		r.add("cartridges", "cartridges/mock/"+c+"-"+sampleIT+".json")
	}
	r.add("cartridgeGroups", "cartridges-groups/cartridge-nested-"+sampleIT+".json")
	var g struct{ Name string }
	r.getJSON("cartridgeGroups", "G1-"+sampleIT, &g)
	if g.Name != "G1-"+sampleIT {
		r.t.Errorf("Get cartridgeGroups/G1: name %q", g.Name)
	}
	r.add("networkPartitions", "network-partitions/mock/network-partition-"+sampleIT+"-1.json")
	r.add("networkPartitions", "network-partitions/mock/network-partition-"+sampleIT+"-2.json")
	r.add("deploymentPolicies", "deployment-policies/deployment-policy-"+sampleIT+".json")
	for _, a := range apps {
		r.add("applications", "applications/"+a+".json")
	}
}

// sampleRefusals is step 5: what the application references cannot be removed while it exists.
func sampleRefusals(r *itRun) {
	r.t.Helper()
	r.refused("cartridgeGroups", "G1-"+sampleIT)
	r.refused("autoscalingPolicies", "autoscaling-policy-"+sampleIT)
	r.refused("networkPartitions", "network-partition-"+sampleIT+"-1")
	r.refused("deploymentPolicies", "deployment-policy-"+sampleIT)
}

// sampleCleanup is step 7.
func sampleCleanup(r *itRun) {
	r.t.Helper()
	r.del("cartridgeGroups", "G1-"+sampleIT)
	for _, c := range []string{"c1", "c2", "c3"} {
		r.del("cartridges", c+"-"+sampleIT)
	}
	r.del("autoscalingPolicies", "autoscaling-policy-"+sampleIT)
	r.del("deploymentPolicies", "deployment-policy-"+sampleIT)
	r.del("networkPartitions", "network-partition-"+sampleIT+"-1")
	r.del("networkPartitions", "network-partition-"+sampleIT+"-2")
	for _, g := range []string{"G1", "G2", "G3"} {
		r.absent("cartridgeGroups", g+"-"+sampleIT)
	}
}

// minMax is a component's min and max as the checks compare them.
type minMax struct{ Min, Max int }

// sampleShape reads the application's nested shape: each group alias and cartridge type with
// its min and max, and the path of group aliases that holds it.
func sampleShape(r *itRun, app string) (map[string]minMax, map[string]string) {
	r.t.Helper()
	sizes, parents := map[string]minMax{}, map[string]string{}
	var walk func(c itComponents, parent string)
	walk = func(c itComponents, parent string) {
		for _, ct := range c.Cartridges {
			sizes[ct.Type] = minMax{int(ct.CartridgeMin), int(ct.CartridgeMax)}
			parents[ct.Type] = parent
		}
		for _, g := range c.Groups {
			sizes[g.Alias] = minMax{int(g.GroupMinInstances), int(g.GroupMaxInstances)}
			parents[g.Alias] = parent
			walk(g.itComponents, g.Alias)
		}
	}
	walk(r.definition(app), "")
	return sizes, parents
}

// TestStratosSampleApplication is sample-applications-test's testApplication.
func TestStratosSampleApplication(t *testing.T) {
	t.Parallel()
	r := newIT(t, sampleIT, testOptions(t))
	const app = "g-sc-G123-1-" + sampleIT
	sampleSetup(r, app)

	// Step 3: the nesting and sizes as posted.
	g1, g2, g3 := "group1-"+sampleIT, "group2-"+sampleIT, "group3-"+sampleIT
	c1, c2, c3 := "c1-"+sampleIT, "c2-"+sampleIT, "c3-"+sampleIT
	wantParents := map[string]string{g1: "", c1: g1, g2: g1, c2: g2, g3: g2, c3: g3}
	sizes, parents := sampleShape(r, app)
	if !maps.Equal(parents, wantParents) {
		t.Errorf("nesting %v, want %v", parents, wantParents)
	}
	want := map[string]minMax{g1: {1, 1}, c1: {1, 2}, g2: {1, 1}, c2: {1, 2}, g3: {1, 2}, c3: {1, 2}}
	if !maps.Equal(sizes, want) {
		t.Errorf("sizes %v, want %v", sizes, want)
	}

	// Step 4: PUT /api/applications (no id in the path) updates the never-deployed application.
	if code, body := r.call(http.MethodPut, "/applications", r.file("applications/"+app+"-v1.json")); !ok2xx(code) {
		t.Fatalf("PUT /api/applications with the v1 definition = %d %s, want 2xx", code, body)
	}
	sizes, _ = sampleShape(r, app)
	want = map[string]minMax{g1: {1, 1}, c1: {2, 3}, g2: {1, 1}, c2: {2, 4}, g3: {2, 3}, c3: {2, 3}}
	if !maps.Equal(sizes, want) {
		t.Errorf("sizes after the update %v, want %v", sizes, want)
	}

	sampleRefusals(r) // step 5
	r.del("applications", app)
	r.absent("applications", app) // step 6
	sampleCleanup(r)              // step 7
}

// TestStratosSampleApplicationList is sample-applications-test's testApplicationList.
func TestStratosSampleApplicationList(t *testing.T) {
	t.Parallel()
	r := newIT(t, sampleIT, testOptions(t))
	apps := []string{sampleIT + "-1", sampleIT + "-2"}
	sampleSetup(r, apps...)
	code, body := r.call(http.MethodGet, "/applications", "")
	var list []struct{ ApplicationID string }
	if err := json.Unmarshal([]byte(body), &list); !ok2xx(code) || err != nil {
		t.Fatalf("GET /api/applications = %d %s (%v)", code, body, err)
	}
	var ids []string
	for _, a := range list {
		ids = append(ids, a.ApplicationID)
	}
	if len(ids) < 2 || !slices.Contains(ids, apps[0]) || !slices.Contains(ids, apps[1]) {
		t.Errorf("GET /api/applications lists %v, want both %v", ids, apps)
	}
	sampleRefusals(r)
	for _, a := range apps {
		r.del("applications", a)
		r.absent("applications", a)
	}
	sampleCleanup(r)
}
