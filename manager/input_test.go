package manager

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
)

// TestBadInput: malformed or hostile bodies get a 4xx naming the problem, and nothing is stored.
func TestBadInput(t *testing.T) {
	e := newEnv(t)
	setupTenants(t, e)
	php := string(sample(t, "cartridges__mock__php.json"))
	tests := []struct {
		name, method, path, body string
		code                     int
		contains                 []string
	}{
		{name: "malformed JSON", method: "POST", path: "/api/cartridges", body: `{"type": "x",`, code: 400, contains: []string{"invalid JSON"}},
		{name: "empty body", method: "POST", path: "/api/applications", body: ` `, code: 400, contains: []string{"empty"}},
		{name: "port out of range", method: "POST", path: "/api/cartridges",
			body: strings.Replace(strings.Replace(php, `"port": "8080"`, `"port": "70000"`, 1), `"type": "php"`, `"type": "php2"`, 1), code: 400, contains: []string{"portMapping[0]", "70000"}},
		{name: "every problem at once", method: "POST", path: "/api/cartridges",
			body: `{"type":"a/b","portMapping":[{"protocol":"http","port":0}]}`, code: 400, contains: []string{"type", "portMapping[0]", "iaasProvider"}},
		{name: "id with slash", method: "POST", path: "/api/autoscalingPolicies",
			body: `{"id":"a/b","loadThresholds":{"requestsInFlight":{"threshold":1}}}`, code: 400, contains: []string{"a/b"}},
		{name: "network partition id with slash", method: "POST", path: "/api/networkPartitions",
			body: `{"id":"np/1","provider":"mock","partitions":[{"id":"p1"}]}`, code: 400, contains: []string{"np/1"}},
		{name: "unknown field in a policy", method: "POST", path: "/api/autoscalingPolicies",
			body: `{"id":"x","bogus":1,"loadThresholds":{"requestsInFlight":{"threshold":1}}}`, code: 400, contains: []string{"bogus"}},
		{name: "unknown field in a subscription", method: "POST", path: "/api/subscriptions",
			body: `{"cartridgeType":"php","alias":"x","autoscalingPolicy":"autoscaling-policy-1","deploymentPolicy":"deployment-policy-1","colour":"red"}`, code: 400, contains: []string{"colour"}},
		{name: "subscription problems together", method: "POST", path: "/api/subscriptions",
			body: `{"cartridgeType":"no/such","alias":"","repoUrl":"ftp://x","agent":"x"}`, code: 400, contains: []string{"cartridgeType", "alias", "autoscalingPolicy", "deploymentPolicy", "repoUrl", "agent"}},
		{name: "subscription references", method: "POST", path: "/api/subscriptions",
			body: `{"cartridgeType":"nosuch","alias":"x","autoscalingPolicy":"nope","deploymentPolicy":"nada"}`, code: 400, contains: []string{"nosuch", "nope", "nada"}},
		{name: "number of the wrong type", method: "POST", path: "/api/applications",
			body: `{"applicationId":"x","components":{"cartridges":[{"type":"php","cartridgeMin":"one"}]}}`, code: 400, contains: []string{"cartridgeMin"}},
		{name: "application references", method: "POST", path: "/api/applications",
			body: `{"applicationId":"app","components":{"cartridges":[{"type":"nosuch","cartridgeMin":1,"cartridgeMax":2,"subscribableInfo":{"alias":"a","autoscalingPolicy":"nope","deploymentPolicy":"nada"}}]}}`,
			code: 400, contains: []string{"nosuch", "nope", "nada"}},
		{name: "10 MiB body", method: "POST", path: "/api/cartridges", body: `{"type":"` + strings.Repeat("a", 10<<20) + `"}`, code: 413, contains: []string{"larger"}},
		{name: "tenant without domain", method: "POST", path: "/api/tenants", body: `{"admin":"x","adminPassword":"12345678","tenantDomain":"nodot"}`, code: 400, contains: []string{"tenantDomain"}},
		{name: "deploy with missing policy", method: "POST", path: "/api/applications/nosuch/deploy/nosuch", code: 404},
	}
	before := e.stateKeys()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			r := e.admin(tc.method, tc.path, body)
			if r.code != tc.code {
				t.Fatalf("status %d, want %d: %.300s", r.code, tc.code, r.body)
			}
			if m := r.msg(); m.Status != "error" {
				t.Errorf("status %q, want error", m.Status)
			}
			for _, c := range tc.contains {
				if !strings.Contains(r.msg().Message, c) {
					t.Errorf("message %q does not name %q", r.msg().Message, c)
				}
			}
		})
	}
	if after := e.stateKeys(); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("bad input changed the state:\nbefore %v\nafter  %v", before, after)
	}
}

// stateKeys lists every key of the manager's buckets.
func (e *testEnv) stateKeys() []string {
	var out []string
	for _, b := range allBuckets {
		keys, _, err := e.srv.store.rawList(b)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, k := range keys {
			out = append(out, string(b)+"/"+k)
		}
	}
	sort.Strings(out)
	return out
}

// TestOpenAPIMatchesRoutes walks the router and compares its API routes with the OpenAPI
// document served at /api/openapi.json, both ways, and for both mounts.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t)
	r := e.admin("GET", "/api/openapi.json", nil)
	expect(t, "openapi", r, http.StatusOK, "")
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(bytes.NewReader(r.body)).Decode(&doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi document: %v %q", err, doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for m := range ops {
			documented[strings.ToUpper(m)+" "+path] = true
		}
	}
	for _, prefix := range []string{"/api", "/api/v4.1"} {
		routed := map[string]bool{}
		for _, rt := range walkRoutes(t, e.h) {
			rest, ok := strings.CutPrefix(rt[1], prefix+"/")
			if !ok || strings.HasPrefix(rest, "v4.1/") {
				continue
			}
			routed[rt[0]+" /"+rest] = true
		}
		for k := range routed {
			if !documented[k] {
				t.Errorf("%s: route %s is not in the OpenAPI document", prefix, k)
			}
		}
		for k := range documented {
			if !routed[k] {
				t.Errorf("%s: the OpenAPI document has %s, which is not routed", prefix, k)
			}
		}
	}
}

// TestChunkedBodyLimit: a body without Content-Length is cut at MaxBody too.
func TestChunkedBodyLimit(t *testing.T) {
	e := newEnv(t)
	body := io.MultiReader(strings.NewReader(`{"type":"`), strings.NewReader(strings.Repeat("a", 2<<20)), strings.NewReader(`"}`))
	req := httptest.NewRequest("POST", "/api/cartridges", body)
	req.SetBasicAuth("admin", adminPassword)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if keys := e.stateKeys(); len(keys) != 0 {
		t.Errorf("stored: %v", keys)
	}
}
