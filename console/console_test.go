package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-paas/strata/console"
	"github.com/strata-paas/strata/manager"
)

// TestLoginLogout: "/" sends a browser without a session to the login form; a wrong password is
// refused; a right one gets an HttpOnly, SameSite=Strict session cookie and the applications;
// logging out revokes the session's API token and ends the session.
func TestLoginLogout(t *testing.T) {
	t.Parallel()
	s := newStandalone(t, manager.Options{})
	b := newBrowserless(t, s.URL)
	if code, page := b.do(http.MethodGet, "/", nil); code != http.StatusOK || !strings.Contains(page, `id="login"`) {
		t.Fatalf("GET / without a session = %d, want the login form:\n%s", code, page)
	}
	if code, page := b.login("admin", "wrong-password"); code != http.StatusUnauthorized || !strings.Contains(page, "Wrong user name or password") {
		t.Errorf("log in with a wrong password = %d, want 401 and the form again:\n%s", code, page)
	}
	_, page := b.do(http.MethodGet, "/login", nil)
	form := url.Values{"csrf": {csrf(t, page)}, "user": {"admin"}, "password": {adminPassword}}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range b.client.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "strata_session" {
			session = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("log in = %d, session cookie %+v: want 303 and an HttpOnly, SameSite=Strict cookie", resp.StatusCode, session)
	}
	b.client.Jar.SetCookies(req.URL, []*http.Cookie{session})
	code, apps := b.do(http.MethodGet, "/apps", nil)
	if code != http.StatusOK || !strings.Contains(apps, adminAppID) || !strings.Contains(apps, tenantAppID) {
		t.Fatalf("GET /apps as admin = %d, want both applications:\n%s", code, apps)
	}
	if _, tokens := apiCall(t, s.URL, "admin", adminPassword, http.MethodGet, "/api/tokens", ""); !strings.Contains(tokens, "console session") {
		t.Errorf("the admin's tokens while logged in = %s, want the console's", tokens)
	}
	if code, page := b.do(http.MethodPost, "/logout", url.Values{"csrf": {csrf(t, apps)}}); code != http.StatusOK || !strings.Contains(page, `id="login"`) {
		t.Errorf("log out = %d, want the login form:\n%s", code, page)
	}
	if _, tokens := apiCall(t, s.URL, "admin", adminPassword, http.MethodGet, "/api/tokens", ""); strings.Contains(tokens, "console session") {
		t.Errorf("the admin's tokens after logout = %s, want the console's revoked", tokens)
	}
	if code, page := b.do(http.MethodGet, "/apps", nil); code != http.StatusOK || !strings.Contains(page, `id="login"`) {
		t.Errorf("GET /apps after logout = %d, want the login form:\n%s", code, page)
	}
}

// TestForgedActionRefused: an action without the session's CSRF token (a form posted from
// another site, or a guessed token) is refused and changes nothing; with the token the console
// asks for confirmation, then deploys through the API.
func TestForgedActionRefused(t *testing.T) {
	t.Parallel()
	s := newStandalone(t, manager.Options{})
	b := newBrowserless(t, s.URL)
	if code, page := b.login("admin", adminPassword); code != http.StatusOK {
		t.Fatalf("log in = %d:\n%s", code, page)
	}
	_, page := b.do(http.MethodGet, "/apps/"+adminAppID, nil)
	token := csrf(t, page)
	deploy := "/apps/" + adminAppID + "/deploy"
	for name, form := range map[string]url.Values{
		"no token":    {"policy": {appPolicyID}, "confirm": {"yes"}},
		"wrong token": {"policy": {appPolicyID}, "confirm": {"yes"}, "csrf": {token[:len(token)-2] + "xx"}},
	} {
		if code, page := b.do(http.MethodPost, deploy, form); code != http.StatusForbidden || !strings.Contains(page, "CSRF") {
			t.Errorf("%s: POST %s = %d, want 403 naming the CSRF token:\n%s", name, deploy, code, page)
		}
	}
	if _, app := apiCall(t, s.URL, "admin", adminPassword, http.MethodGet, "/api/applications/"+adminAppID, ""); !strings.Contains(app, `"status":"Created"`) {
		t.Fatalf("the application after forged deploys: %s, want it still Created", app)
	}
	code, page := b.do(http.MethodPost, deploy, url.Values{"policy": {appPolicyID}, "csrf": {token}})
	if code != http.StatusOK || !strings.Contains(page, `id="confirm"`) {
		t.Fatalf("deploy without confirmation = %d, want the confirmation page:\n%s", code, page)
	}
	if code, page := b.do(http.MethodPost, deploy, url.Values{"policy": {appPolicyID}, "csrf": {token}, "confirm": {"yes"}}); code != http.StatusOK {
		t.Fatalf("confirmed deploy = %d:\n%s", code, page)
	}
	if _, app := apiCall(t, s.URL, "admin", adminPassword, http.MethodGet, "/api/applications/"+adminAppID, ""); strings.Contains(app, `"status":"Created"`) {
		t.Errorf("the application after a confirmed deploy: %s, want it deployed", app)
	}
}

// TestTenantSeesOnlyItsApplications: a tenant's user lists only the tenant's application, and
// another tenant's application page is not found.
func TestTenantSeesOnlyItsApplications(t *testing.T) {
	t.Parallel()
	s := newStandalone(t, manager.Options{})
	for _, user := range []struct{ name, password string }{{"alice@" + tenantDomain, alicePassword}, {"bob@" + tenantDomain, bobPassword}} {
		b := newBrowserless(t, s.URL)
		code, apps := b.login(user.name, user.password)
		if code != http.StatusOK || !strings.Contains(apps, tenantAppID) || strings.Contains(apps, adminAppID) {
			t.Errorf("%s: GET /apps = %d, want %s and not %s:\n%s", user.name, code, tenantAppID, adminAppID, apps)
		}
		if code, page := b.do(http.MethodGet, "/apps/"+adminAppID, nil); code != http.StatusNotFound || strings.Contains(page, `id="tree"`) {
			t.Errorf("%s: GET /apps/%s = %d, want 404:\n%s", user.name, adminAppID, code, page)
		}
	}
}

// TestUserWithoutRoleGetsNoActions: a tenant user (role user) sees the application without the
// deploy and undeploy buttons, and a deploy sent anyway (with a valid CSRF token) is refused by
// the API, as is the same call made to the API directly.
func TestUserWithoutRoleGetsNoActions(t *testing.T) {
	t.Parallel()
	s := newStandalone(t, manager.Options{})
	bob := "bob@" + tenantDomain
	b := newBrowserless(t, s.URL)
	b.login(bob, bobPassword)
	code, page := b.do(http.MethodGet, "/apps/"+tenantAppID, nil)
	if code != http.StatusOK || !strings.Contains(page, `id="tree"`) {
		t.Fatalf("GET /apps/%s as %s = %d:\n%s", tenantAppID, bob, code, page)
	}
	if strings.Contains(page, `id="deploy"`) || strings.Contains(page, `id="undeploy"`) {
		t.Errorf("the application page offers %s actions:\n%s", bob, page)
	}
	form := url.Values{"policy": {appPolicyID}, "csrf": {csrf(t, page)}, "confirm": {"yes"}}
	if code, page := b.do(http.MethodPost, "/apps/"+tenantAppID+"/deploy", form); code != http.StatusForbidden || !strings.Contains(page, "the API answered") {
		t.Errorf("a deploy sent anyway = %d, want the API's 403:\n%s", code, page)
	}
	if code, _ := apiCall(t, s.URL, bob, bobPassword, http.MethodPost, "/api/applications/"+tenantAppID+"/deploy/"+appPolicyID, ""); code != http.StatusForbidden {
		t.Errorf("POST deploy to the API as %s = %d, want 403", bob, code)
	}
	alice := newBrowserless(t, s.URL)
	alice.login("alice@"+tenantDomain, alicePassword)
	if _, page := alice.do(http.MethodGet, "/apps/"+tenantAppID, nil); !strings.Contains(page, `id="deploy"`) {
		t.Errorf("the tenant admin's application page has no deploy button:\n%s", page)
	}
}

// TestIdleSessionEnds: a session unused for longer than SessionIdle sends the browser back to
// the login form, and its API token is revoked.
func TestIdleSessionEnds(t *testing.T) {
	t.Parallel()
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	s := newStandaloneConsole(t, manager.Options{}, console.Options{SessionIdle: time.Hour, Now: func() time.Time { return time.Unix(0, now.Load()) }})
	b := newBrowserless(t, s.URL)
	if code, page := b.login("admin", adminPassword); code != http.StatusOK || !strings.Contains(page, adminAppID) {
		t.Fatalf("log in = %d:\n%s", code, page)
	}
	now.Add(int64(59 * time.Minute))
	if _, page := b.do(http.MethodGet, "/apps", nil); !strings.Contains(page, adminAppID) {
		t.Fatalf("GET /apps 59 minutes later: the session ended early:\n%s", page)
	}
	now.Add(int64(61 * time.Minute))
	if code, page := b.do(http.MethodGet, "/apps", nil); code != http.StatusOK || !strings.Contains(page, `id="login"`) {
		t.Errorf("GET /apps after 61 idle minutes = %d, want the login form:\n%s", code, page)
	}
	if _, tokens := apiCall(t, s.URL, "admin", adminPassword, http.MethodGet, "/api/tokens", ""); strings.Contains(tokens, "console session") {
		t.Errorf("the admin's tokens after the session ended = %s, want the console's revoked", tokens)
	}
}
