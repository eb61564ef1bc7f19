package console_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/console"
	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/manager"
)

const (
	adminPassword = "s3cret-pass"
	tenantDomain  = "acme.test"
	alicePassword = "alice-pass-1" // acme.test's tenant admin
	bobPassword   = "bob-pass-12"  // acme.test's user: reads, may not deploy
	tenantAppID   = "acme-app"
	adminAppID    = "single-cartridge-app"
	appPolicyID   = "application-policy-1"
)

// standalone is the REST API (no controller: deploys are recorded, nothing starts) with the
// console in front of it, as internal/app mounts it.
type standalone struct {
	URL string
	api *manager.Server
}

// newStandalone serves the API and the console; opts lets a test give the API a topology and
// history.
func newStandalone(t testing.TB, opts manager.Options) *standalone {
	t.Helper()
	return newStandaloneConsole(t, opts, console.Options{})
}

// newStandaloneConsole is newStandalone with the console's options (API is set here).
func newStandaloneConsole(t testing.TB, opts manager.Options, co console.Options) *standalone {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "manager.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	users, err := manager.NewUsers(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := users.EnsureAdmin(adminPassword); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var s standalone
	co.API = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.api.Handler().ServeHTTP(w, r) })
	con, err := console.New(co)
	if err != nil {
		t.Fatal(err)
	}
	opts.Listener, opts.Users, opts.DB, opts.Console = ln, users, db, con
	if opts.History == nil {
		opts.History = history.NewMemory(history.Options{})
	}
	if s.api, err = manager.New(opts); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.api.Handler())
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	seed(t, srv.URL)
	return &s
}

// apiCall calls the REST API with Basic credentials and returns the status and body.
func apiCall(t testing.TB, base, user, password, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, password)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// seed posts the Stratos single-cartridge sample as the admin's application, and a tenant
// acme.test (tenant admin alice, user bob) with an application of its own.
func seed(t testing.TB, base string) {
	t.Helper()
	post := func(user, password, path, body string) {
		t.Helper()
		if code, answer := apiCall(t, base, user, password, http.MethodPost, path, body); code != http.StatusCreated {
			t.Fatalf("POST %s as %s = %d %s, want 201", path, user, code, answer)
		}
	}
	for _, p := range []struct{ path, file string }{
		{"/api/autoscalingPolicies", "autoscaling-policies__autoscaling-policy-1.json"},
		{"/api/networkPartitions", "network-partitions__mock__network-partition-1.json"},
		{"/api/deploymentPolicies", "deployment-policies__deployment-policy-1.json"},
		{"/api/cartridges", "cartridges__mock__php.json"},
		{"/api/applicationPolicies", "application-policies__application-policy-1.json"},
		{"/api/applications", "applications__simple__single-cartridge-app__artifacts__application.json"},
	} {
		post("admin", adminPassword, p.path, readTestdata(t, p.file))
	}
	post("admin", adminPassword, "/api/tenants", `{"admin":"alice","adminPassword":"`+alicePassword+`","tenantDomain":"`+tenantDomain+`","email":"alice@acme.test"}`)
	alice := "alice@" + tenantDomain
	post(alice, alicePassword, "/api/users", `{"userName":"bob","credential":"`+bobPassword+`","role":"user"}`)
	app := strings.ReplaceAll(readTestdata(t, "applications__simple__single-cartridge-app__artifacts__application.json"), adminAppID, tenantAppID)
	post(alice, alicePassword, "/api/applications", app)
}

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// browserless is a user agent without JavaScript: a cookie jar and the pages as text.
type browserless struct {
	t      testing.TB
	base   string
	client *http.Client
}

func newBrowserless(t testing.TB, base string) *browserless {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browserless{t: t, base: base, client: &http.Client{Jar: jar}}
}

// do sends a request (a form when form is not nil) and returns the final status and page.
func (b *browserless) do(method, path string, form url.Values) (int, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(context.Background(), method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(page)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the CSRF token of a page's forms.
func csrf(t testing.TB, page string) string {
	t.Helper()
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the page:\n%s", page)
	}
	return m[1]
}

// login logs in through the form and returns the applications page.
func (b *browserless) login(user, password string) (int, string) {
	b.t.Helper()
	_, page := b.do(http.MethodGet, "/login", nil)
	return b.do(http.MethodPost, "/login", url.Values{"csrf": {csrf(b.t, page)}, "user": {user}, "password": {password}})
}
