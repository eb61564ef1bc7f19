package app

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

const sampleCluster = "single-cartridge-app.my-php.php.domain"

// deploySample posts the Stratos single-cartridge sample, deploys it and waits for its member to
// be Active. It returns the API's URL and the application's JSON.
func deploySample(t *testing.T, s *started, client *http.Client) (string, string) {
	t.Helper()
	api := "http://" + s.app.Addrs().API.String() + "/api"
	var app string
	for _, p := range []struct{ path, file string }{
		{"/autoscalingPolicies", "autoscaling-policies__autoscaling-policy-1.json"},
		{"/networkPartitions", "network-partitions__mock__network-partition-1.json"},
		{"/deploymentPolicies", "deployment-policies__deployment-policy-1.json"},
		{"/cartridges", "cartridges__mock__php.json"},
		{"/applicationPolicies", "application-policies__application-policy-1.json"},
		{"/applications", "applications__simple__single-cartridge-app__artifacts__application.json"},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", "stratos-samples", p.file))
		if err != nil {
			t.Fatal(err)
		}
		app = string(b)
		if code, body := call(t, client, http.MethodPost, api+p.path, app); code != http.StatusCreated {
			t.Fatalf("POST %s (%s) = %d %s, want 201", p.path, p.file, code, body)
		}
	}
	if code, body := call(t, client, http.MethodPost, api+"/applications/single-cartridge-app/deploy/application-policy-1", ""); code != http.StatusAccepted {
		t.Fatalf("deploy = %d %s, want 202", code, body)
	}
	testenv.Eventually(t, 60*time.Second, "the first member to go Active", func() bool {
		return len(activeMembers(s)) == 1
	})
	return api, app
}

// activeMembers are the ids of the sample cluster's Active members in the controller.
func activeMembers(s *started) []string {
	var ids []string
	for _, m := range s.app.Controller().Members(sampleCluster) {
		if m.Status() == model.MemberActive {
			ids = append(ids, m.MemberID)
		}
	}
	slices.Sort(ids)
	return ids
}

// TestUpdateDeployedApplication: PUT /api/applications with a higher cartridgeMin on a deployed
// application makes the running cluster reach the new min without restarting anything: the
// first member keeps its id and stays Active, no member ends. A lower max then terminates the
// surplus through the cleanup flow.
func TestUpdateDeployedApplication(t *testing.T) {
	t.Parallel()
	s := start(t, testOptions(t))
	client := &http.Client{Timeout: 10 * time.Second}
	api, app := deploySample(t, s, client)
	first := activeMembers(s)

	scaled := strings.Replace(app, `"cartridgeMin": 1`, `"cartridgeMin": 3`, 1)
	if code, body := call(t, client, http.MethodPut, api+"/applications", scaled); code != http.StatusCreated {
		t.Fatalf("PUT with cartridgeMin 3 = %d %s, want 201", code, body)
	}
	testenv.Eventually(t, 60*time.Second, "three Active members", func() bool { return len(activeMembers(s)) == 3 })
	all := s.app.Controller().Members(sampleCluster)
	if len(all) != 3 {
		t.Errorf("the cluster has %d members, want 3 (none terminated or replaced)", len(all))
	}
	if now := activeMembers(s); !slices.Contains(now, first[0]) {
		t.Errorf("Active members %v after the update lack the first member %s: it was restarted", now, first[0])
	}

	lowered := strings.Replace(strings.Replace(scaled, `"cartridgeMin": 3`, `"cartridgeMin": 1`, 1), `"cartridgeMax": 5`, `"cartridgeMax": 2`, 1)
	if code, body := call(t, client, http.MethodPut, api+"/applications", lowered); code != http.StatusCreated {
		t.Fatalf("PUT with cartridgeMax 2 = %d %s, want 201", code, body)
	}
	testenv.Eventually(t, 60*time.Second, "the surplus member to be terminated", func() bool {
		return len(s.app.Controller().Members(sampleCluster)) == 2 && len(activeMembers(s)) == 2
	})
}

// TestTerminateMemberReplaced: DELETE /api/applications/{appId}/members/{memberId} terminates
// the member through the cleanup flow and the min check starts another one.
func TestTerminateMemberReplaced(t *testing.T) {
	t.Parallel()
	s := start(t, testOptions(t))
	client := &http.Client{Timeout: 10 * time.Second}
	api, _ := deploySample(t, s, client)
	first := activeMembers(s)[0]
	if code, body := call(t, client, http.MethodDelete, api+"/applications/single-cartridge-app/members/"+first, ""); code != http.StatusAccepted {
		t.Fatalf("DELETE member = %d %s, want 202", code, body)
	}
	testenv.Eventually(t, 60*time.Second, "the member to be replaced", func() bool {
		ids := activeMembers(s)
		return len(ids) == 1 && ids[0] != first && len(s.app.Controller().Members(sampleCluster)) == 1
	})
}
