package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/strata-paas/strata/manager"
)

// TestClusterActionsRefused: the cluster page's actions (min and max, terminate a member) need
// the session's CSRF token, ask for confirmation first, and a user whose role may not manage
// applications is refused by the API even with a valid token and confirmation.
func TestClusterActionsRefused(t *testing.T) {
	t.Parallel()
	s := newStandalone(t, manager.Options{})
	if code, body := apiCall(t, s.URL, "alice@"+tenantDomain, alicePassword, http.MethodPost, "/api/applications/"+tenantAppID+"/deploy/"+appPolicyID, ""); code != http.StatusAccepted {
		t.Fatalf("deploy = %d %s", code, body)
	}
	cluster := "/apps/" + tenantAppID + "/clusters/" + tenantAppID + ".my-php.php.domain"
	scale, terminate := cluster+"/scale", cluster+"/members/m-1/terminate"

	alice := newBrowserless(t, s.URL)
	if code, page := alice.login("alice@"+tenantDomain, alicePassword); code != http.StatusOK {
		t.Fatalf("log in = %d:\n%s", code, page)
	}
	_, page := alice.do(http.MethodGet, "/apps/"+tenantAppID, nil)
	token := csrf(t, page)
	for _, path := range []string{scale, terminate} {
		if code, page := alice.do(http.MethodPost, path, url.Values{"min": {"2"}, "max": {"3"}, "confirm": {"yes"}}); code != http.StatusForbidden || !strings.Contains(page, "CSRF") {
			t.Errorf("POST %s without the CSRF token = %d, want 403 naming it:\n%s", path, code, page)
		}
	}
	if _, app := apiCall(t, s.URL, "admin", adminPassword, http.MethodGet, "/api/applications/"+tenantAppID, ""); !strings.Contains(app, `"cartridgeMin":1`) {
		t.Fatalf("the application after a forged scale: %s, want cartridgeMin 1", app)
	}
	if code, page := alice.do(http.MethodPost, terminate, url.Values{"csrf": {token}}); code != http.StatusOK || !strings.Contains(page, `id="confirm"`) || !strings.Contains(page, "m-1") {
		t.Errorf("terminate without confirmation = %d, want the confirmation page naming the member:\n%s", code, page)
	}
	if code, page := alice.do(http.MethodPost, scale, url.Values{"csrf": {token}, "min": {"3"}, "max": {"2"}}); code != http.StatusBadRequest {
		t.Errorf("scale with max below min = %d, want 400:\n%s", code, page)
	}

	bob := newBrowserless(t, s.URL)
	if code, page := bob.login("bob@"+tenantDomain, bobPassword); code != http.StatusOK {
		t.Fatalf("log in = %d:\n%s", code, page)
	}
	_, page = bob.do(http.MethodGet, "/apps/"+tenantAppID, nil)
	if code, page := bob.do(http.MethodPost, terminate, url.Values{"csrf": {csrf(t, page)}, "confirm": {"yes"}}); code != http.StatusForbidden {
		t.Errorf("a user's confirmed terminate = %d, want the API's 403:\n%s", code, page)
	}
}
