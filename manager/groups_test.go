package manager

import (
	"net/http"
	"strings"
	"testing"

	"github.com/strata-paas/strata/internal/model"
)

// postPolicies posts the policies, partitions and cartridges of the Stratos samples that the
// group tests' applications reference.
func postPolicies(t *testing.T, e *testEnv) {
	t.Helper()
	for _, p := range []struct{ file, path string }{
		{"autoscaling-policies__autoscaling-policy-1.json", "/api/autoscalingPolicies"},
		{"network-partitions__mock__network-partition-1.json", "/api/networkPartitions"},
		{"deployment-policies__deployment-policy-1.json", "/api/deploymentPolicies"},
		{"cartridges__mock__php.json", "/api/cartridges"},
		{"cartridges__mock__tomcat.json", "/api/cartridges"},
	} {
		expect(t, p.file, e.admin("POST", p.path, sample(t, p.file)), http.StatusCreated, "")
	}
}

// groupApp is an application with one cartridge and one group (outer, alias "g") that holds a
// php cartridge (alias "p") and the nested group inner (alias "n") with a tomcat (alias "t");
// order is the application's startup order.
func groupApp(id, outer, inner, order string) []byte {
	ref := func(typ, alias string) string {
		return `{"type":"` + typ + `","cartridgeMin":1,"cartridgeMax":1,"subscribableInfo":{"alias":"` + alias +
			`","autoscalingPolicy":"autoscaling-policy-1","deploymentPolicy":"deployment-policy-1"}}`
	}
	return []byte(`{"applicationId":"` + id + `","components":{"cartridges":[` + ref("php", "top") + `],
	"groups":[{"name":"` + outer + `","alias":"g","groupMinInstances":1,"groupMaxInstances":1,"cartridges":[` + ref("php", "p") + `],
		"groups":[{"name":"` + inner + `","alias":"n","groupMinInstances":1,"groupMaxInstances":1,"cartridges":[` + ref("tomcat", "t") + `]}]}],
	"dependencies":{"startupOrders":[{"aliases":[` + order + `]}]}}}`)
}

// nestedGroup is a group outer holding php and the nested group inner with tomcat; order is
// outer's startup order.
func nestedGroup(outer, inner, order string) []byte {
	return []byte(`{"name":"` + outer + `","cartridges":["php"],"dependencies":{"startupOrders":[{"aliases":[` + order + `]}]},
	"groups":[{"name":"` + inner + `","cartridges":["tomcat"]}]}`)
}

// TestNestedGroupsRegistered: POST /api/cartridgeGroups registers the groups nested in the
// definition under their own names, so that an application can use them; the nested group
// cannot be removed alone while its outer group exists; removing the outer group removes it
// too; an application's use refuses the removal.
func TestNestedGroupsRegistered(t *testing.T) {
	e := newEnv(t)
	postPolicies(t, e)
	expect(t, "add outer", e.admin("POST", "/api/cartridgeGroups", nestedGroup("outer", "inner", `"group.n","cartridge.p"`)), http.StatusCreated, "Cartridge Group added successfully")
	expect(t, "get inner", e.admin("GET", "/api/cartridgeGroups/inner", nil), http.StatusOK, "")
	expect(t, "add inner again", e.admin("POST", "/api/cartridgeGroups", []byte(`{"name":"inner","cartridges":["tomcat"]}`)), http.StatusConflict, "already exists")
	expect(t, "another group nesting inner differently", e.admin("POST", "/api/cartridgeGroups", []byte(`{"name":"other","groups":[{"name":"inner","cartridges":["php"]}]}`)), http.StatusConflict, "inner")
	expect(t, "other is not registered", e.admin("GET", "/api/cartridgeGroups/other", nil), http.StatusNotFound, "")
	expect(t, "a group defined twice", e.admin("POST", "/api/cartridgeGroups", []byte(`{"name":"twice","groups":[{"name":"x","cartridges":["php"]},{"name":"x","cartridges":["php"]}]}`)), http.StatusBadRequest, "defined more than once")

	expect(t, "add app", e.admin("POST", "/api/applications", groupApp("app", "outer", "inner", `"cartridge.top","group.g"`)), http.StatusCreated, "")
	expect(t, "remove inner", e.admin("DELETE", "/api/cartridgeGroups/inner", nil), http.StatusBadRequest, "since it is used in another cartridge group or an application (cartridge group outer)")
	expect(t, "remove outer", e.admin("DELETE", "/api/cartridgeGroups/outer", nil), http.StatusBadRequest, "(application app)")
	expect(t, "remove app", e.admin("DELETE", "/api/applications/app", nil), http.StatusOK, "")
	expect(t, "remove outer", e.admin("DELETE", "/api/cartridgeGroups/outer", nil), http.StatusOK, "Cartridge Group deleted successfully")
	expect(t, "inner removed with outer", e.admin("GET", "/api/cartridgeGroups/inner", nil), http.StatusNotFound, "")

	// A nested group that another group nests too stays when one of them is removed.
	expect(t, "add a", e.admin("POST", "/api/cartridgeGroups", nestedGroup("a", "shared", "")), http.StatusCreated, "")
	expect(t, "add b", e.admin("POST", "/api/cartridgeGroups", nestedGroup("b", "shared", "")), http.StatusCreated, "")
	expect(t, "remove a", e.admin("DELETE", "/api/cartridgeGroups/a", nil), http.StatusOK, "")
	expect(t, "shared stays for b", e.admin("GET", "/api/cartridgeGroups/shared", nil), http.StatusOK, "")
	expect(t, "remove b", e.admin("DELETE", "/api/cartridgeGroups/b", nil), http.StatusOK, "")
	expect(t, "shared removed with b", e.admin("GET", "/api/cartridgeGroups/shared", nil), http.StatusNotFound, "")
}

// TestStartupOrderAliases: an alias of a startup order, of the application or of a group it
// uses, that names no cartridge or group of that component refuses the application with
// Stratos' text; a group update that breaks an application's startup order is refused too.
func TestStartupOrderAliases(t *testing.T) {
	e := newEnv(t)
	postPolicies(t, e)
	expect(t, "add outer", e.admin("POST", "/api/cartridgeGroups", nestedGroup("outer", "inner", `"group.n","cartridge.p"`)), http.StatusCreated, "")
	// Stratos' answer names the first wrong alias alone, and the test of Stratos compares the body.
	r := e.admin("POST", "/api/applications", groupApp("app", "outer", "inner", `"cartridge.top","group.my-dbgroup3333","group.my-appgroup5555"`))
	if want := `{"status":"error","message":"The startup-order defined in the [application] app is not correct. [startup-order-alias] group.my-dbgroup3333 is not there in the application."}`; r.code != http.StatusBadRequest || strings.TrimSpace(string(r.body)) != want {
		t.Errorf("app startup order = %d %s, want 400 %s", r.code, r.body, want)
	}
	expect(t, "app startup order naming a grandchild", e.admin("POST", "/api/applications", groupApp("app", "outer", "inner", `"cartridge.top","cartridge.t"`)), http.StatusBadRequest,
		"[startup-order-alias] cartridge.t is not there in the application.")
	expect(t, "add outer2", e.admin("POST", "/api/cartridgeGroups", nestedGroup("outer2", "inner2", `"group.n","cartridge.missing"`)), http.StatusCreated, "")
	r = e.admin("POST", "/api/applications", groupApp("app", "outer2", "inner2", `"cartridge.top","group.g"`))
	expect(t, "group startup order", r, http.StatusBadRequest, "[startup-order-alias] cartridge.missing is not there in the application.")
	if strings.Contains(r.msg().Message, "group.n ") {
		t.Errorf("the valid alias group.n is reported: %s", r.body)
	}
	expect(t, "a valid app", e.admin("POST", "/api/applications", groupApp("app", "outer", "inner", `"cartridge.top","group.g"`)), http.StatusCreated, "")
	expect(t, "group update breaking the app", e.admin("PUT", "/api/cartridgeGroups", nestedGroup("outer", "inner", `"group.gone","cartridge.p"`)), http.StatusBadRequest,
		"[startup-order-alias] group.gone is not there in the application.")
	expect(t, "a valid group update", e.admin("PUT", "/api/cartridgeGroups", nestedGroup("outer", "inner", `"cartridge.p","group.n"`)), http.StatusOK, "")
}

// TestRemoveApplicationPublishesDeleted: removing an application that was added but never
// deployed publishes ApplicationDeletedEvent, so that a consumer that learned of it from
// ApplicationCreatedEvent drops it (an undeploy publishes it at its end already).
func TestRemoveApplicationPublishesDeleted(t *testing.T) {
	e := newEnv(t)
	postPolicies(t, e)
	expect(t, "add outer", e.admin("POST", "/api/cartridgeGroups", nestedGroup("outer", "inner", `"group.n","cartridge.p"`)), http.StatusCreated, "")
	expect(t, "add app", e.admin("POST", "/api/applications", groupApp("app", "outer", "inner", `"cartridge.top","group.g"`)), http.StatusCreated, "")
	expect(t, "remove app", e.admin("DELETE", "/api/applications/app", nil), http.StatusOK, "")
	e.bus.mu.Lock()
	defer e.bus.mu.Unlock()
	for _, ev := range e.bus.published {
		if d, ok := ev.(*model.ApplicationDeletedEvent); ok && d.ApplicationID == "app" {
			return
		}
	}
	t.Errorf("no ApplicationDeletedEvent for the removed application among %d events published", len(e.bus.published))
}
