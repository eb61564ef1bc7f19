package manager

import (
	"bytes"
	"net/http"
	"slices"
	"testing"

	"github.com/strata-paas/strata/internal/model"
)

// deployTenantApp deploys the single-cartridge sample as boss@a.com and returns its bean.
func deployTenantApp(t *testing.T, e *testEnv) []byte {
	t.Helper()
	setupTenants(t, e)
	expect(t, "application policy", e.admin("POST", "/api/applicationPolicies", sample(t, "application-policies__application-policy-1.json")), http.StatusCreated, "")
	app := sample(t, "applications__simple__single-cartridge-app__artifacts__application.json")
	app = bytes.Replace(app, []byte(`"repoPassword": ""`), []byte(`"repoPassword": "repo-pw-1"`), 1)
	expect(t, "add", e.do("POST", "/api/applications", "boss@a.com", "boss-secret-a.com", app), http.StatusCreated, "")
	expect(t, "deploy", e.do("POST", "/api/applications/single-cartridge-app/deploy/application-policy-1", "boss@a.com", "boss-secret-a.com", nil), http.StatusAccepted, "")
	return app
}

// TestUpdateDeployedApplication: PUT /applications on a deployed application gives the
// autoscaler the clusters' new min and max; a change a running cluster cannot take is refused
// with 409 and the reason, and changes nothing.
func TestUpdateDeployedApplication(t *testing.T) {
	e := newEnv(t)
	app := deployTenantApp(t, e)
	const cluster = "single-cartridge-app.my-php.php.domain"
	put := func(body []byte) resp {
		return e.do("PUT", "/api/applications", "boss@a.com", "boss-secret-a.com", body)
	}
	scaled := bytes.Replace(app, []byte(`"cartridgeMin": 1`), []byte(`"cartridgeMin": 3`), 1)
	expect(t, "update min", put(scaled), http.StatusCreated, "Application updated")
	regs := e.plat.registered[cluster]
	if last := regs[len(regs)-1]; last.Min != 3 || last.Max != 5 || last.InstanceID == "" {
		t.Fatalf("the autoscaler got %+v, want min 3 max 5 for the running instance", last)
	}
	if got := e.plat.appIDs(); len(got) != 1 {
		t.Fatalf("clusters created: %v, want the first deployment's only", got)
	}
	for _, c := range []struct{ what, old, new, want string }{
		{"type", `"type": "php"`, `"type": "tomcat-mt"`, "the cartridge type changes from php to tomcat-mt"},
		{"alias", `"alias": "my-php"`, `"alias": "other-php"`, "a cluster cannot be removed"},
		{"repository", `lakwarus/single-cartridge.git`, `lakwarus/other.git`, "more than cartridgeMin and cartridgeMax"},
	} {
		body := bytes.Replace(scaled, []byte(c.old), []byte(c.new), 1)
		expect(t, c.what, put(body), http.StatusConflict, c.want)
	}
	bad := bytes.Replace(scaled, []byte(`"cartridgeMax": 5`), []byte(`"cartridgeMax": 2`), 1)
	expect(t, "max below min", put(bad), http.StatusBadRequest, "want 0 <= min <= max")
	got := e.admin("GET", "/api/applications/single-cartridge-app", nil)
	if !bytes.Contains(got.body, []byte(`"cartridgeMin":3`)) || !bytes.Contains(got.body, []byte(`"status":"Deployed"`)) {
		t.Fatalf("GET after the updates: %s", got.body)
	}
	// What GET answers (without the repository password), changed and PUT back, as the console
	// does, keeps the stored password.
	expect(t, "update from GET", put(bytes.Replace(got.body, []byte(`"cartridgeMin":3`), []byte(`"cartridgeMin":2`), 1)), http.StatusCreated, "")
	var rec applicationRecord
	if err := e.srv.store.get(bucketApplications, "single-cartridge-app", &rec); err != nil {
		t.Fatal(err)
	}
	sealed := rec.Bean.Components.Cartridges[0].SubscribableInfo.ArtifactRepository.RepoPassword
	if pw, err := model.DecryptPassword(rec.Key, sealed); err != nil || pw != "repo-pw-1" {
		t.Fatalf("the repository password after a PUT without it: %q, %v; want repo-pw-1", pw, err)
	}
}

// TestTerminateMember: DELETE /applications/{appId}/members/{memberId} goes to the autoscaler
// for the application's tenant; another tenant gets 404, a tenant's user-role 403.
func TestTerminateMember(t *testing.T) {
	e := newEnv(t)
	deployTenantApp(t, e)
	expect(t, "add user", e.do("POST", "/api/users", "boss@a.com", "boss-secret-a.com", []byte(`{"userName":"dev","credential":"dev-secret-1","role":"user"}`)), http.StatusCreated, "")
	const cluster = "single-cartridge-app.my-php.php.domain"
	path := "/api/applications/single-cartridge-app/members/" + cluster + "m1"
	expect(t, "other tenant", e.do("DELETE", path, "boss@b.com", "boss-secret-b.com", nil), http.StatusNotFound, "Application not found")
	expect(t, "user role", e.do("DELETE", path, "dev@a.com", "dev-secret-1", nil), http.StatusForbidden, "")
	expect(t, "unknown member", e.do("DELETE", "/api/applications/single-cartridge-app/members/nope", "boss@a.com", "boss-secret-a.com", nil), http.StatusNotFound, "Member not found")
	if len(e.plat.terminated) != 0 {
		t.Fatalf("terminated %v before the owner asked", e.plat.terminated)
	}
	expect(t, "owner", e.do("DELETE", path, "boss@a.com", "boss-secret-a.com", nil), http.StatusAccepted, "Member terminating")
	expect(t, "super admin", e.admin("DELETE", path, nil), http.StatusAccepted, "")
	if want := cluster + "/" + cluster + "m1"; !slices.Equal(e.plat.terminated, []string{want, want}) {
		t.Fatalf("terminated %v, want %s twice", e.plat.terminated, want)
	}
	expect(t, "undeploy", e.admin("POST", "/api/applications/single-cartridge-app/undeploy?force=true", nil), http.StatusAccepted, "")
	expect(t, "not deployed", e.admin("DELETE", path, nil), http.StatusConflict, "not deployed")
}
