package manager

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/strata-paas/strata/internal/model"
)

// walkRoutes lists every method and pattern of the router.
func walkRoutes(t *testing.T, h http.Handler) [][2]string {
	t.Helper()
	var out [][2]string
	err := chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out = append(out, [2]string{method, route})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var paramRE = regexp.MustCompile(`\{[^}]+\}`)

// publicRoutes answer without credentials: the API's own description (TestOpenAPIIsPublic).
var publicRoutes = map[string]bool{"GET /api/openapi.json": true, "GET /api/v4.1/openapi.json": true}

// TestNoWriteWithoutCredentials walks every route: nothing but publicRoutes answers 2xx without
// credentials or with a wrong password, and the 401 carries WWW-Authenticate and the error body.
func TestNoWriteWithoutCredentials(t *testing.T) {
	e := newEnv(t)
	// Hundreds of wrong passwords from one source: this test is about answers to a refused
	// credential, not the throttle (TestRESTLoginThrottled), which must not turn them into 429s.
	e.srv.opts.Users.SetLoginLimits(LoginLimits{SourceBurst: 1 << 20, UserBurst: 1 << 20})
	n := 0
	for _, rt := range walkRoutes(t, e.h) {
		method, route := rt[0], rt[1]
		if !strings.HasPrefix(route, "/api") || publicRoutes[method+" "+route] {
			continue
		}
		path := paramRE.ReplaceAllString(route, "x")
		for _, cred := range [][2]string{{"", ""}, {"admin", "wrong-password"}, {"nobody@example.com", "whatever1"}} {
			r := e.do(method, path, cred[0], cred[1], []byte(`{}`))
			if r.code != http.StatusUnauthorized {
				t.Errorf("%s %s as %q: status %d, want 401", method, path, cred[0], r.code)
			}
			if r.hdr.Get("WWW-Authenticate") == "" || r.msg().Status != "error" {
				t.Errorf("%s %s: no WWW-Authenticate or error body: %v %s", method, path, r.hdr, r.body)
			}
		}
		n++
	}
	if n < 80 {
		t.Fatalf("walked only %d API routes", n)
	}
}

// setupTenants makes two tenants with their admins and the definitions a subscription needs.
func setupTenants(t *testing.T, e *testEnv) {
	t.Helper()
	for _, p := range []struct{ path, file string }{
		{"/api/autoscalingPolicies", "autoscaling-policies__autoscaling-policy-1.json"},
		{"/api/networkPartitions", "network-partitions__mock__network-partition-1.json"},
		{"/api/deploymentPolicies", "deployment-policies__deployment-policy-1.json"},
		{"/api/cartridges", "cartridges__mock__php.json"},
	} {
		expect(t, p.path, e.admin("POST", p.path, sample(t, p.file)), http.StatusCreated, "")
	}
	mt := sample(t, "cartridges__mock__tomcat.json")
	mt = bytes.Replace(mt, []byte(`"multiTenant": "false"`), []byte(`"multiTenant": "true"`), 1)
	mt = bytes.Replace(mt, []byte(`"type": "tomcat"`), []byte(`"type": "tomcat-mt"`), 1)
	expect(t, "mt cartridge", e.admin("POST", "/api/cartridges", mt), http.StatusCreated, "")
	for _, d := range []string{"a.com", "b.com"} {
		body := `{"admin":"boss","adminPassword":"boss-secret-` + d + `","tenantDomain":"` + d + `","email":"boss@` + d + `","firstName":"B","lastName":"O"}`
		expect(t, "tenant "+d, e.admin("POST", "/api/tenants", []byte(body)), http.StatusCreated, "Tenant added")
	}
}

const repoSecret = "Sup3r-Secret-Repo-Pw"

func TestTenantsAndSubscriptions(t *testing.T) {
	e := newEnv(t)
	setupTenants(t, e)
	a := func(method, path string, body string) resp {
		var b []byte
		if body != "" {
			b = []byte(body)
		}
		return e.do(method, path, "boss@a.com", "boss-secret-a.com", b)
	}
	b := func(method, path string, body string) resp {
		var bb []byte
		if body != "" {
			bb = []byte(body)
		}
		return e.do(method, path, "boss@b.com", "boss-secret-b.com", bb)
	}
	sub := `{"cartridgeType":"php","alias":"shop","autoscalingPolicy":"autoscaling-policy-1","deploymentPolicy":"deployment-policy-1",
		"repoUrl":"https://git.example.com/a/shop.git","repoUsername":"git","repoPassword":"` + repoSecret + `","privateRepo":"true"}`
	r := a("POST", "/api/subscriptions", sub)
	expect(t, "subscribe a", r, http.StatusCreated, "Successfully subscribed")
	if r.hdr.Get("Location") != "/api/subscriptions/shop" {
		t.Errorf("Location %q", r.hdr.Get("Location"))
	}
	// Tenant b may use the same alias: subscriptions are per tenant.
	expect(t, "subscribe b", b("POST", "/api/subscriptions", strings.Replace(sub, "/a/", "/b/", 1)), http.StatusCreated, "")
	// Single-tenant: one cluster per subscription.
	if got := e.plat.appIDs(); len(got) != 2 {
		t.Fatalf("applications deployed: %v", got)
	}
	var subs []subscriptionView
	r = a("GET", "/api/subscriptions", "")
	_ = json.Unmarshal(r.body, &subs)
	if len(subs) != 1 || subs[0].TenantDomain != "a.com" || subs[0].Status != statusDeployed || subs[0].ActiveMembers != 1 {
		t.Fatalf("tenant a's subscriptions: %s", r.body)
	}
	clusterA := subs[0].ClusterID
	// Tenant b cannot see or change tenant a's subscription or application.
	_ = json.Unmarshal(b("GET", "/api/subscriptions", "").body, &subs)
	if len(subs) != 1 || subs[0].TenantDomain != "b.com" {
		t.Fatalf("tenant b sees %+v", subs)
	}
	appA := subs[0].ApplicationID
	appA = strings.Replace(appA, "-2", "-1", 1) // tenant a has id 1, b has 2
	expect(t, "b reads a's application", b("GET", "/api/applications/"+appA, ""), http.StatusNotFound, "")
	expect(t, "b undeploys a's application", b("POST", "/api/applications/"+appA+"/undeploy", ""), http.StatusNotFound, "")
	expect(t, "b removes a's application", b("DELETE", "/api/applications/"+appA, ""), http.StatusNotFound, "")
	expect(t, "b reads a's cluster", b("GET", "/api/cluster/"+clusterA, ""), http.StatusNotFound, "")
	expect(t, "a reads its application", a("GET", "/api/applications/"+appA, ""), http.StatusOK, "")
	// Tenants cannot manage the platform.
	expect(t, "tenant adds a cartridge", a("POST", "/api/cartridges", string(sample(t, "cartridges__mock__mysql.json"))), http.StatusForbidden, "permissions")
	expect(t, "tenant lists tenants", a("GET", "/api/tenants", ""), http.StatusForbidden, "")
	expect(t, "tenant reads cartridges", a("GET", "/api/cartridges", ""), http.StatusOK, "")

	// Artifact distribution on InstanceStarted: the password is encrypted as Stratos agents
	// read it, under the application key.
	e.bus.deliver(model.SubscribeInstanceStatus, "instance/status/InstanceStartedEvent",
		model.InstanceStartedEvent{ServiceName: "php", ClusterID: clusterA, MemberID: clusterA + "m1"})
	evs := e.bus.artifactEvents()
	if len(evs) != 1 || evs[0].ClusterID != clusterA || evs[0].TenantID != "1" || evs[0].RepoURL != "https://git.example.com/a/shop.git" {
		t.Fatalf("artifact events: %+v", evs)
	}
	var rec applicationRecord
	if err := e.srv.store.get(bucketApplications, appA, &rec); err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(evs[0].RepoPassword, model.PasswordGCMPrefix) {
		t.Errorf("Stratos agents need the ECB form, got %q", evs[0].RepoPassword)
	}
	if pw, err := model.DecryptPassword(rec.Key, evs[0].RepoPassword); err != nil || pw != repoSecret {
		t.Errorf("decrypt artifact password: %q, %v", pw, err)
	}
	// /repo/notify: tenant b's webhook for a's repository reaches nothing; a's reaches its cluster.
	expect(t, "b notify", b("POST", "/api/repo/notify", `{"repository":{"url":"https://git.example.com/a/shop.git"}}`), http.StatusNoContent, "")
	if n := len(e.bus.artifactEvents()); n != 1 {
		t.Errorf("tenant b's notification published %d events", n-1)
	}
	expect(t, "a notify", a("POST", "/api/repo/notify", `{"repository":{"url":"https://git.example.com/a/shop"}}`), http.StatusNoContent, "")
	if n := len(e.bus.artifactEvents()); n != 2 {
		t.Errorf("after tenant a's notification: %d events, want 2", n)
	}

	// Multi-tenant cartridge: one shared cluster, a sign-up per tenant.
	mt := `{"cartridgeType":"tomcat-mt","alias":"web","autoscalingPolicy":"autoscaling-policy-1","deploymentPolicy":"deployment-policy-1",
		"repoUrl":"https://git.example.com/a/web.git","repoPassword":"` + repoSecret + `","agent":"strata"}`
	expect(t, "a subscribes mt", a("POST", "/api/subscriptions", mt), http.StatusCreated, "")
	expect(t, "b subscribes mt", b("POST", "/api/subscriptions", strings.Replace(mt, "/a/", "/b/", 1)), http.StatusCreated, "")
	if got := e.plat.appIDs(); len(got) != 3 {
		t.Fatalf("multi-tenant subscriptions must share one cluster: %v", got)
	}
	mtEvents := 0
	for _, ev := range e.bus.artifactEvents() {
		if strings.HasPrefix(ev.ClusterID, "shared-tomcat-mt") {
			mtEvents++
			if !strings.HasPrefix(ev.RepoPassword, model.PasswordGCMPrefix) {
				t.Errorf("strata agent: want the GCM form, got %q", ev.RepoPassword)
			}
		}
	}
	if mtEvents != 2 {
		t.Errorf("multi-tenant sign-ups sent %d artifact events, want 2", mtEvents)
	}

	// The repository password never appears in clear: API answers, logs, state file.
	for _, path := range []string{"/api/subscriptions", "/api/subscriptions/shop", "/api/applications", "/api/applications/" + appA,
		"/api/applications/" + appA + "/runtime", "/api/applications/" + appA + "/signup"} {
		if r := a("GET", path, ""); bytes.Contains(r.body, []byte(repoSecret)) {
			t.Errorf("GET %s shows the repository password", path)
		}
	}
	if strings.Contains(e.logs.String(), repoSecret) {
		t.Error("a log line holds the repository password")
	}
	if err := e.srv.opts.Users.db.Sync(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(e.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(repoSecret)) {
		t.Error("the state file holds the repository password in clear")
	}

	// Unsubscribe: b cannot remove a's, a can.
	expect(t, "a unsubscribes", a("DELETE", "/api/subscriptions/shop", ""), http.StatusOK, "unsubscribed")
	e.srv.bg.Wait()
	expect(t, "a's subscription gone", a("GET", "/api/subscriptions/shop", ""), http.StatusNotFound, "")
	expect(t, "b's subscription stays", b("GET", "/api/subscriptions/shop", ""), http.StatusOK, "")
}

func TestUsersTokensAndRoles(t *testing.T) {
	e := newEnv(t)
	setupTenants(t, e)
	expect(t, "add user", e.do("POST", "/api/users", "boss@a.com", "boss-secret-a.com", []byte(`{"userName":"dev","credential":"dev-secret-1","role":"user"}`)), http.StatusCreated, "")
	expect(t, "tenant admin cannot add platform admin", e.do("POST", "/api/users", "boss@a.com", "boss-secret-a.com", []byte(`{"userName":"root","credential":"dev-secret-1","role":"admin"}`)), http.StatusBadRequest, "role admin")
	expect(t, "user cannot subscribe", e.do("POST", "/api/subscriptions", "dev@a.com", "dev-secret-1", []byte(`{}`)), http.StatusForbidden, "")
	expect(t, "user lists subscriptions", e.do("GET", "/api/subscriptions", "dev@a.com", "dev-secret-1", nil), http.StatusOK, "")
	r := e.do("POST", "/api/tokens", "boss@a.com", "boss-secret-a.com", []byte(`{"name":"ci"}`))
	expect(t, "token", r, http.StatusCreated, "")
	var tok struct{ Token, ID string }
	_ = json.Unmarshal(r.body, &tok)
	req := func(token string) int {
		rq, _ := http.NewRequest("GET", "/api/subscriptions", nil)
		rq.Header.Set("Authorization", "Bearer "+token)
		rec := &recorder{h: http.Header{}}
		e.h.ServeHTTP(rec, rq)
		return rec.code
	}
	if code := req(tok.Token); code != http.StatusOK {
		t.Errorf("bearer token: %d", code)
	}
	if code := req(tok.Token + "x"); code != http.StatusUnauthorized {
		t.Errorf("wrong bearer token: %d", code)
	}
	expect(t, "revoke", e.do("DELETE", "/api/tokens/"+tok.ID, "boss@a.com", "boss-secret-a.com", nil), http.StatusOK, "")
	if code := req(tok.Token); code != http.StatusUnauthorized {
		t.Errorf("revoked token: %d", code)
	}
	// A deactivated tenant's users are refused.
	expect(t, "deactivate", e.admin("PUT", "/api/tenants/deactivate/a.com", nil), http.StatusOK, "")
	expect(t, "deactivated tenant", e.do("GET", "/api/init", "boss@a.com", "boss-secret-a.com", nil), http.StatusUnauthorized, "")
	expect(t, "remove tenant", e.admin("DELETE", "/api/tenants/a.com", nil), http.StatusNotAcceptable, "")
}

type recorder struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(c int)           { r.code = c }

func TestCompleteEvents(t *testing.T) {
	e := newEnv(t)
	setupTenants(t, e)
	sub := `{"cartridgeType":"tomcat-mt","alias":"web","autoscalingPolicy":"autoscaling-policy-1","deploymentPolicy":"deployment-policy-1",
		"repoUrl":"https://git.example.com/a/web.git","repoPassword":"` + repoSecret + `"}`
	expect(t, "subscribe", e.do("POST", "/api/subscriptions", "boss@a.com", "boss-secret-a.com", []byte(sub)), http.StatusCreated, "")
	evs := e.srv.completeEvents(completeTenants | completeSignUps)
	tenants := evs[0].(model.CompleteTenantEvent)
	if len(tenants.Tenants) != 3 || tenants.Tenants[0].TenantID != SuperTenantID {
		t.Errorf("tenants: %+v", tenants)
	}
	sus := evs[1].(model.CompleteApplicationSignUpsEvent)
	if len(sus.ApplicationSignUps) != 1 || sus.ApplicationSignUps[0].TenantID != 1 || len(sus.ApplicationSignUps[0].ArtifactRepositories) != 1 {
		t.Fatalf("sign-ups: %+v", sus)
	}
	if pw := sus.ApplicationSignUps[0].ArtifactRepositories[0].RepoPassword; pw == "" || pw == repoSecret {
		t.Errorf("sign-up password %q: want it encrypted", pw)
	}
}

// TestTenantUserCannotWrite walks every route as a tenant's plain user: no write answers 2xx
// (except managing the user's own API tokens).
func TestTenantUserCannotWrite(t *testing.T) {
	e := newEnv(t)
	setupTenants(t, e)
	expect(t, "add user", e.do("POST", "/api/users", "boss@a.com", "boss-secret-a.com", []byte(`{"userName":"dev","credential":"dev-secret-1","role":"user"}`)), http.StatusCreated, "")
	for _, rt := range walkRoutes(t, e.h) {
		method, route := rt[0], rt[1]
		if !strings.HasPrefix(route, "/api") || method == "GET" || strings.Contains(route, "/tokens") {
			continue
		}
		path := paramRE.ReplaceAllString(route, "x")
		if r := e.do(method, path, "dev@a.com", "dev-secret-1", []byte(`{}`)); r.code/100 == 2 {
			t.Errorf("%s %s as a tenant user: %d", method, path, r.code)
		}
	}
}

// The accounts issued to agents (broker and Thrift credentials carried in payloads) get nothing
// from the REST API, not even reads.
func TestAgentAccountsHaveNoAPIAccess(t *testing.T) {
	e := newEnv(t)
	user, password, err := e.srv.opts.Users.IssueAgent("app.php.php.domain")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.srv.opts.Users.Authenticate(user, password); !ok {
		t.Fatal("the issued credentials do not authenticate")
	}
	for _, path := range []string{"/api/init", "/api/cartridges", "/api/applications"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.SetBasicAuth(user, password)
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Errorf("GET %s as an agent account = %d, want 403", path, rec.Code)
		}
	}
}

// A create whose id collides with another tenant's application is refused like any invalid create
// (400, "Application is not valid"), never with the 409 "already exists" that would reveal that
// the other tenant has an application of that id (issue 15, item 7).
func TestApplicationIDCollisionRevealsNothing(t *testing.T) {
	e := newEnv(t)
	setupTenants(t, e)
	app := func(id, policy string) []byte {
		return []byte(`{"applicationId":"` + id + `","alias":"` + id + `","components":{"cartridges":[{"type":"php","cartridgeMin":1,"cartridgeMax":2,
			"subscribableInfo":{"alias":"` + id + `-php","autoscalingPolicy":"` + policy + `","deploymentPolicy":"deployment-policy-1"}}]}}`)
	}
	a := func(body []byte) resp {
		return e.do("POST", "/api/applications", "boss@a.com", "boss-secret-a.com", body)
	}
	b := func(body []byte) resp {
		return e.do("POST", "/api/applications", "boss@b.com", "boss-secret-b.com", body)
	}
	expect(t, "a creates web", a(app("web", "autoscaling-policy-1")), http.StatusCreated, "")
	expect(t, "a creates web again", a(app("web", "autoscaling-policy-1")), http.StatusConflict, "already exists")
	invalid := b(app("shop", "no-such-policy"))
	clash := b(app("web", "autoscaling-policy-1"))
	if clash.code != invalid.code || clash.code != http.StatusBadRequest {
		t.Errorf("b creates a's id: status %d, an invalid create gets %d; want both 400", clash.code, invalid.code)
	}
	m := clash.msg().Message
	if strings.Contains(strings.ToLower(m), "exist") || !strings.HasPrefix(m, "Application is not valid: ") ||
		!strings.HasPrefix(invalid.msg().Message, "Application is not valid: ") {
		t.Errorf("b creates a's id: %q (an invalid create: %q)", m, invalid.msg().Message)
	}
	expect(t, "b reads web", e.do("GET", "/api/applications/web", "boss@b.com", "boss-secret-b.com", nil), http.StatusNotFound, "")
}

// An account with the bus role (broker access an operator grants) is created only by the super
// tenant and gets nothing from the REST API.
func TestBusAccounts(t *testing.T) {
	e := newEnv(t)
	setupTenants(t, e)
	body := []byte(`{"userName":"monitor","role":"bus","credential":"monitor-secret-1"}`)
	if r := e.do("POST", "/api/users", "boss@a.com", "boss-secret-a.com", body); r.code/100 == 2 {
		t.Errorf("a tenant admin created a bus account: %d %s", r.code, r.body)
	}
	expect(t, "bus account", e.admin("POST", "/api/users", body), http.StatusCreated, "")
	u, ok := e.srv.opts.Users.Authenticate("monitor", "monitor-secret-1")
	if !ok || u.Role != RoleBus {
		t.Fatalf("the bus account: %+v %v", u, ok)
	}
	for _, path := range []string{"/api/init", "/api/cartridges", "/api/users"} {
		if r := e.do("GET", path, "monitor", "monitor-secret-1", nil); r.code != http.StatusForbidden {
			t.Errorf("GET %s as a bus account = %d, want 403", path, r.code)
		}
	}
}
