package app

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// TestLocalThirdPartyAgent: a member on the local driver run by an agent Strata did not write
// (testdata/mqtt-agent.sh: shell, mosquitto_sub and mosquitto_pub, reading only the generated
// agent.conf and launch-params), named by the cartridge's iaasProvider property "agent", goes
// Active, and on undeploy completes the cleanup flow: the agent answers the cleanup event with
// InstanceMaintenanceModeEvent and InstanceReadyToShutdownEvent, and the member ends gracefully.
func TestLocalThirdPartyAgent(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"mosquitto_sub", "mosquitto_pub", "jq"} {
		testenv.Program(t, p)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "mqtt-agent.sh"))
	if err != nil {
		t.Fatal(err)
	}
	o := testOptions(t)
	o.LB = false // no proxy port to share with the other tests
	o.SyncInterval = 2 * time.Second
	s := start(t, o)

	type seen struct {
		topic string
		rec   model.LifecycleRecord
	}
	var (
		mu     sync.Mutex
		events []seen
	)
	record := func(topic string, e model.Event) {
		rec, _ := model.LifecycleOf(e, time.Now())
		mu.Lock()
		events = append(events, seen{topic, rec})
		mu.Unlock()
	}
	for _, f := range []string{"topology/#", "instance/#"} {
		if err := s.app.Bus().SubscribeEvents(t.Context(), f, record); err != nil {
			t.Fatal(err)
		}
	}

	client := &http.Client{Timeout: 10 * time.Second}
	deploySample(t, s, client, func(file, body string) string {
		switch {
		case strings.HasPrefix(file, "network-partitions__"):
			return strings.Replace(body, `"provider": "mock"`, `"provider": "local"`, 1)
		case strings.HasPrefix(file, "cartridges__"):
			body = strings.Replace(body, `"type": "mock"`, `"type": "local"`, 1)
			return strings.Replace(body, `"property": [`, `"property": [{"name": "agent", "value": "exec /bin/sh '`+script+`'"},`, 1)
		}
		return body
	})
	const clusterID = "single-cartridge-app.my-php.php.domain"
	members := activeMembers(s, clusterID)
	if len(members) != 1 {
		t.Fatalf("active members %v, want one", members)
	}
	member := members[0]
	agentLog := filepath.Join(o.DataDir, "members", member, "agent.log")
	if b, err := os.ReadFile(agentLog); err != nil || !strings.Contains(string(b), "member "+member+" of "+clusterID) {
		t.Errorf("agent.log (%v):\n%s\nwant the script's start line", err, b)
	}

	api := "http://" + s.app.Addrs().API.String() + "/api"
	if code, body := call(t, client, http.MethodPost, api+"/applications/single-cartridge-app/undeploy", ""); code != http.StatusAccepted {
		t.Fatalf("undeploy = %d %s, want 202", code, body)
	}
	var states []string
	testenv.Eventually(t, 60*time.Second, "the member to end", func() bool {
		mu.Lock()
		defer mu.Unlock()
		states = states[:0]
		for _, e := range events {
			if e.rec.Entity == "member" && e.rec.MemberID == member && strings.HasPrefix(e.topic, "topology/") {
				states = append(states, e.rec.Status)
			}
		}
		return slices.Contains(states, string(model.MemberTerminated))
	})
	if got, want := strings.Join(states, " → "), "Created → Initialized → Starting → Active → In_Maintenance → ReadyToShutDown → Terminated"; got != want {
		b, _ := os.ReadFile(agentLog)
		t.Errorf("member %s: %s\nwant %s\nagent.log:\n%s", member, got, want, b)
	}
	// The agent's answers came after the cleanup event, in the order of §7.5.
	mu.Lock()
	defer mu.Unlock()
	var order []string
	for _, e := range events {
		switch e.topic {
		case "instance/notifier/InstanceCleanupMemberEvent", "instance/notifier/InstanceCleanupClusterEvent":
			order = append(order, "cleanup")
		case "instance/status/InstanceMaintenanceModeEvent", "instance/status/InstanceReadyToShutdownEvent":
			if e.rec.MemberID == member || e.rec.MemberID == "" {
				order = append(order, strings.TrimPrefix(e.topic, "instance/status/"))
			}
		}
	}
	if i := slices.Index(order, "cleanup"); i < 0 || !slices.Equal(compactStrings(order[i:]), []string{"cleanup", "InstanceMaintenanceModeEvent", "InstanceReadyToShutdownEvent"}) {
		t.Errorf("instance events %v, want a cleanup event answered by InstanceMaintenanceModeEvent, then InstanceReadyToShutdownEvent", order)
	}
}

// compactStrings drops repeats in a row (a cleanup event may be repeated until answered).
func compactStrings(s []string) []string { return slices.Compact(slices.Clone(s)) }
