package app

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/testenv"
)

// deployForUpdate deploys the single-cartridge sample and waits for its member to be Active; it
// returns the API's URL and the application's JSON as posted.
func deployForUpdate(t *testing.T, s *started, client *http.Client) (string, string) {
	t.Helper()
	deploySample(t, s, client, nil)
	b, err := os.ReadFile(filepath.Join("testdata", "stratos-samples", "applications__simple__single-cartridge-app__artifacts__application.json"))
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + s.app.Addrs().API.String() + "/api", string(b)
}

// TestUpdateDeployedApplication: PUT /api/applications with a higher cartridgeMin on a deployed
// application makes the running cluster reach the new min without restarting anything: the
// first member keeps its id and stays Active, no member ends. A lower max then terminates the
// surplus through the cleanup flow.
func TestUpdateDeployedApplication(t *testing.T) {
	t.Parallel()
	s := start(t, testOptions(t))
	client := &http.Client{Timeout: 10 * time.Second}
	api, app := deployForUpdate(t, s, client)
	first := activeMembers(s, mockCluster)

	scaled := strings.Replace(app, `"cartridgeMin": 1`, `"cartridgeMin": 3`, 1)
	if code, body := call(t, client, http.MethodPut, api+"/applications", scaled); code != http.StatusCreated {
		t.Fatalf("PUT with cartridgeMin 3 = %d %s, want 201", code, body)
	}
	testenv.Eventually(t, 60*time.Second, "three Active members", func() bool { return len(activeMembers(s, mockCluster)) == 3 })
	all := s.app.Controller().Members(mockCluster)
	if len(all) != 3 {
		t.Errorf("the cluster has %d members, want 3 (none terminated or replaced)", len(all))
	}
	if now := activeMembers(s, mockCluster); !slices.Contains(now, first[0]) {
		t.Errorf("Active members %v after the update lack the first member %s: it was restarted", now, first[0])
	}

	lowered := strings.Replace(strings.Replace(scaled, `"cartridgeMin": 3`, `"cartridgeMin": 1`, 1), `"cartridgeMax": 5`, `"cartridgeMax": 2`, 1)
	if code, body := call(t, client, http.MethodPut, api+"/applications", lowered); code != http.StatusCreated {
		t.Fatalf("PUT with cartridgeMax 2 = %d %s, want 201", code, body)
	}
	testenv.Eventually(t, 60*time.Second, "the surplus member to be terminated", func() bool {
		return len(s.app.Controller().Members(mockCluster)) == 2 && len(activeMembers(s, mockCluster)) == 2
	})
}

// TestTerminateMemberReplaced: DELETE /api/applications/{appId}/members/{memberId} terminates
// the member through the cleanup flow and the min check starts another one.
func TestTerminateMemberReplaced(t *testing.T) {
	t.Parallel()
	s := start(t, testOptions(t))
	client := &http.Client{Timeout: 10 * time.Second}
	api, _ := deployForUpdate(t, s, client)
	first := activeMembers(s, mockCluster)[0]
	if code, body := call(t, client, http.MethodDelete, api+"/applications/single-cartridge-app/members/"+first, ""); code != http.StatusAccepted {
		t.Fatalf("DELETE member = %d %s, want 202", code, body)
	}
	testenv.Eventually(t, 60*time.Second, "the member to be replaced", func() bool {
		ids := activeMembers(s, mockCluster)
		return len(ids) == 1 && ids[0] != first && len(s.app.Controller().Members(mockCluster)) == 1
	})
}

// TestUpdateDeployedAddsCartridge: PUT /api/applications with one more cartridge on a deployed
// application creates the new cartridge's cluster and starts its members; the running cluster
// keeps its member.
func TestUpdateDeployedAddsCartridge(t *testing.T) {
	t.Parallel()
	s := start(t, testOptions(t))
	client := &http.Client{Timeout: 10 * time.Second}
	api, app := deployForUpdate(t, s, client)
	first := activeMembers(s, mockCluster)

	// A second php cartridge with its own alias and min 2, after the first.
	const added = "single-cartridge-app.my-php2.php.domain"
	second := `{"type": "php", "cartridgeMin": 2, "cartridgeMax": 3, "subscribableInfo": {"alias": "my-php2",
		"autoscalingPolicy": "autoscaling-policy-1", "deploymentPolicy": "deployment-policy-1"}}`
	i := strings.LastIndex(app, "]")
	grown := app[:i] + "," + second + app[i:]
	if code, body := call(t, client, http.MethodPut, api+"/applications", grown); code != http.StatusCreated {
		t.Fatalf("PUT with an added cartridge = %d %s, want 201", code, body)
	}
	testenv.Eventually(t, 60*time.Second, "two Active members in the added cluster", func() bool { return len(activeMembers(s, added)) == 2 })
	if now := activeMembers(s, mockCluster); !slices.Equal(now, first) || len(s.app.Controller().Members(mockCluster)) != 1 {
		t.Errorf("the first cluster's members %v after the update, want %v alone (none restarted)", now, first)
	}
	if _, body := call(t, client, http.MethodGet, api+"/applications/single-cartridge-app/runtime", ""); !strings.Contains(body, added) {
		t.Errorf("the runtime view lacks the added cluster: %s", body)
	}
}
