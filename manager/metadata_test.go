package manager

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/strata-paas/strata/internal/model"
)

// deployedWithToken posts and deploys the single-cartridge sample and returns the TOKEN its
// cluster's payload carries.
func deployedWithToken(t *testing.T, e *testEnv) string {
	t.Helper()
	for _, p := range []struct{ path, file string }{
		{"/api/autoscalingPolicies", "autoscaling-policies__autoscaling-policy-1.json"},
		{"/api/networkPartitions", "network-partitions__mock__network-partition-1.json"},
		{"/api/deploymentPolicies", "deployment-policies__deployment-policy-1.json"},
		{"/api/cartridges", "cartridges__mock__php.json"},
		{"/api/applicationPolicies", "application-policies__application-policy-1.json"},
		{"/api/applications", "applications__simple__single-cartridge-app__artifacts__application.json"},
	} {
		expect(t, p.path, e.admin("POST", p.path, sample(t, p.file)), http.StatusCreated, "")
	}
	expect(t, "deploy", e.admin("POST", "/api/applications/single-cartridge-app/deploy/application-policy-1", nil), http.StatusAccepted, "")
	cs := e.plat.clusters["single-cartridge-app"]
	if len(cs) != 1 {
		t.Fatalf("clusters %+v, want one", cs)
	}
	tok, _ := cs[0].Payload.Get(model.PayloadToken)
	key, _ := cs[0].Payload.Get(model.PayloadCartridgeKey)
	if tok == "" || tok == key {
		t.Fatalf("the cluster's payload: TOKEN %q, want one that is not the application key", tok)
	}
	return tok
}

// bearer sends a metadata request with a bearer token to handler h.
func bearer(h http.Handler, method, path, token, body string) resp {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return resp{code: rec.Code, hdr: rec.Header(), body: rec.Body.Bytes()}
}

// TestMetadataService: the token of the payload opens the application's properties and nothing
// else (no token, another token, the admin's password: 401); a cluster not of the application is
// 404; the properties survive a new Server on the same database and go with the undeploy, and
// the token no longer opens anything once the application is undeployed.
func TestMetadataService(t *testing.T) {
	e := newEnv(t)
	tok := deployedWithToken(t, e)
	const base = "/metadata/api/applications/single-cartridge-app"
	const cluster = "single-cartridge-app.my-php.php.domain"
	expect(t, "add", bearer(e.h, "POST", base+"/properties", tok, `{"key":"k","values":["a","b"]}`), http.StatusCreated, "Property added successfully")
	expect(t, "add again", bearer(e.h, "POST", base+"/properties", tok, `{"key":"k","values":["b","c"]}`), http.StatusCreated, "")
	if r := bearer(e.h, "GET", base+"/properties/k", tok, ""); r.code != http.StatusOK || string(r.body) != `{"key":"k","values":["a","b","c"]}`+"\n" {
		t.Errorf("GET k = %d %s, want a, b and c once each", r.code, r.body)
	}
	expect(t, "add to the cluster", bearer(e.h, "POST", base+"/clusters/"+cluster+"/properties", tok, `{"key":"k","values":["x"]}`), http.StatusCreated, "")
	if r := bearer(e.h, "GET", base+"/cluster/"+cluster+"/properties/k", tok, ""); !strings.Contains(string(r.body), `["x"]`) {
		t.Errorf("GET the cluster's k = %d %s, want x alone", r.code, r.body)
	}
	expect(t, "another cluster", bearer(e.h, "POST", base+"/clusters/other.cluster/properties", tok, `{"key":"k","values":["x"]}`), http.StatusNotFound, "")
	expect(t, "no value", bearer(e.h, "POST", base+"/properties", tok, `{"key":"k","values":[]}`), http.StatusBadRequest, "")
	expect(t, "no token", bearer(e.h, "GET", base+"/properties/k", "", ""), http.StatusUnauthorized, "")
	expect(t, "a wrong token", bearer(e.h, "GET", base+"/properties/k", tok+"x", ""), http.StatusUnauthorized, "")
	expect(t, "the token on another application", bearer(e.h, "GET", "/metadata/api/applications/other/properties/k", tok, ""), http.StatusUnauthorized, "")
	expect(t, "the admin's password", e.admin("GET", base+"/properties/k", nil), http.StatusUnauthorized, "")
	expect(t, "missing key", bearer(e.h, "GET", base+"/properties/nothing", tok, ""), http.StatusNotFound, "")

	// DELETE .../properties removes the clusters' properties too.
	expect(t, "add another", bearer(e.h, "POST", base+"/properties", tok, `{"key":"gone","values":["x"]}`), http.StatusCreated, "")
	expect(t, "remove all", bearer(e.h, "DELETE", base+"/properties", tok, ""), http.StatusOK, "")
	expect(t, "the cluster's k after removing all", bearer(e.h, "GET", base+"/cluster/"+cluster+"/properties/k", tok, ""), http.StatusNotFound, "")
	expect(t, "gone after removing all", bearer(e.h, "GET", base+"/properties/gone", tok, ""), http.StatusNotFound, "")
	expect(t, "add k again", bearer(e.h, "POST", base+"/properties", tok, `{"key":"k","values":["a"]}`), http.StatusCreated, "")

	s2, err := New(Options{Listener: e.srv.opts.Listener, Users: e.srv.opts.Users, Logger: slog.New(slog.DiscardHandler),
		Cartridges: e.plat, Partitions: e.plat, Clusters: e.plat, Scaler: e.plat, SecretsKey: e.srv.opts.SecretsKey})
	if err != nil {
		t.Fatal(err)
	}
	if r := bearer(s2.Handler(), "GET", base+"/properties/k", tok, ""); r.code != http.StatusOK {
		t.Errorf("GET k from a new Server = %d %s, want it kept", r.code, r.body)
	}

	expect(t, "undeploy", e.admin("POST", "/api/applications/single-cartridge-app/undeploy?force=true", nil), http.StatusAccepted, "")
	expect(t, "the token of an undeployed application", bearer(e.h, "GET", base+"/properties/k", tok, ""), http.StatusUnauthorized, "")
	if keys := e.stateKeys(); strings.Contains(strings.Join(keys, " "), "manager.metadata/") {
		t.Errorf("the store still holds metadata after the undeploy: %v", keys)
	}
}
