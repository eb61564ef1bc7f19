package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLocalSubscriptionPrivateRepo is the manager's single-call path on the local driver: a
// subscription with a private repository (the AES-GCM password form, agent "strata") goes Active
// with the code checked out in every member, and a push plus /repo/notify updates every member.
func TestLocalSubscriptionPrivateRepo(t *testing.T) {
	t.Parallel()
	t0 := time.Now()
	e := startLocal(t, false)
	sub := map[string]any{"cartridgeType": localCartridge, "alias": "mysite", "autoscalingPolicy": localAutoscale,
		"deploymentPolicy": localDeploy, "repoUrl": e.repo.URL, "repoUsername": e.repo.User, "repoPassword": e.repo.Password,
		"privateRepo": true, "agent": "strata", "min": 2, "max": 2}
	if code, body, _ := call(t, http.MethodPost, e.api+"/api/subscriptions", jsonText(t, sub)); code != http.StatusCreated {
		t.Fatalf("POST /subscriptions = %d %s", code, body)
	}
	var view struct {
		ActiveMembers int    `json:"activeMembers"`
		ApplicationID string `json:"applicationId"`
	}
	waitUntil(t, 120*time.Second, "the subscription's two members Active", func() bool {
		code, body, _ := call(t, http.MethodGet, e.api+"/api/subscriptions/mysite", "")
		return code == http.StatusOK && json.Unmarshal([]byte(body), &view) == nil && view.ActiveMembers == 2
	})
	t.Logf("two members Active after %.1fs", time.Since(t0).Seconds())
	members := activeMembers(runtimeMembers(t, e.api, view.ApplicationID))
	if len(members) != 2 {
		t.Fatalf("runtime members %v, want 2 Active", members)
	}
	checkedOut := func(want string) func() bool {
		return func() bool {
			recs := memberRecords(e.dataDir)
			for _, m := range members {
				dir := filepath.Join(memberDir(e.dataDir, m), "app")
				b, err := os.ReadFile(filepath.Join(dir, "index.html"))
				if _, ok := recs[m]; !ok || err != nil || string(b) != want {
					return false
				}
			}
			return true
		}
	}
	// Active means checked out: the files are there the moment the members are Active.
	if !checkedOut("v1\n")() {
		t.Fatalf("an Active member has not checked the repository out")
	}
	waitServed(t, e.lb, "/", "v1\n", members, 30*time.Second)

	e.repo.Push(map[string]string{"index.html": "v2\n"})
	if code, body, _ := call(t, http.MethodPost, e.api+"/api/repo/notify", jsonText(t, map[string]any{"repository": map[string]string{"url": e.repo.URL}})); code != http.StatusNoContent {
		t.Fatalf("POST /repo/notify = %d %s", code, body)
	}
	waitUntil(t, 30*time.Second, "every member to check out the push", checkedOut("v2\n"))
	waitServed(t, e.lb, "/", "v2\n", members, 10*time.Second)
	t.Logf("push + /repo/notify reached both; total %.1fs", time.Since(t0).Seconds())
}
