package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/agent"
	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/app"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// The second, small application of TestScaleAgentStart.
const (
	partApp     = "small-app"
	partCluster = "small-app.my-php.php.domain"
)

// askPart publishes a ClusterTopologyRequestEvent for cluster and returns how long its part took
// to arrive, and its size.
func (o *observer) askPart(t *testing.T, cluster string) (time.Duration, int) {
	t.Helper()
	got := make(chan int, 16)
	topic := model.ClusterTopologyTopic(cluster)
	if err := o.client.Subscribe(t.Context(), topic, func(_ string, b []byte) {
		select {
		case got <- len(b):
		default:
		}
	}); err != nil {
		t.Fatal(err)
	}
	defer o.client.Unsubscribe(context.WithoutCancel(t.Context()), topic)
	start := time.Now()
	if err := o.client.PublishEvent(t.Context(), &model.ClusterTopologyRequestEvent{ClusterID: cluster}); err != nil {
		t.Fatal(err)
	}
	select {
	case size := <-got:
		return time.Since(start), size
	case <-time.After(5 * time.Minute):
		t.Fatalf("no part of %s within 5 minutes of a request", cluster)
		return 0, 0
	}
}

// agentStart runs Strata's agent of member m (its own credential from the mock's payload) until
// it has the topology (it logs so) and returns how long that took, and whether its
// CompleteTopologyEvent extension ran (its TOPOLOGY_JSON variable may exceed what exec takes).
// With complete set the agent has an LB_CLUSTER_ID of another cluster, so it asks for the
// complete topology as the Python agent does; otherwise it asks for its cluster's part.
func agentStart(t *testing.T, a *app.App, m model.Member, complete bool) (time.Duration, bool) {
	t.Helper()
	p, ok := a.Mock().Payload(m.MemberID)
	if !ok {
		t.Fatalf("no payload for %s", m.MemberID)
	}
	get := func(k string) string { v, _ := p.Get(k); return v }
	logs := &testenv.Buffer{}
	dir := t.TempDir()
	mark := filepath.Join(dir, "topology")
	if err := os.WriteFile(filepath.Join(dir, agent.ExtCompleteTopology+".sh"), []byte("#!/bin/bash\ntouch "+mark+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := agent.Config{
		ApplicationID: get(model.PayloadApplicationID), ServiceName: m.ServiceName, ClusterID: m.ClusterID, MemberID: m.MemberID,
		ClusterInstanceID: m.ClusterInstanceID, ExtensionsDir: dir, ApplicationPath: t.TempDir(),
		BrokerURLs: a.Addrs().Brokers, BrokerUsername: get(model.PayloadMBUsername), BrokerPassword: get(model.PayloadMBPassword),
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	}
	if complete {
		cfg.LBClusterID = scaleCluster
	}
	ag, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- ag.Run(ctx) }()
	defer func() { cancel(); <-done }()
	testenv.Eventually(t, 5*time.Minute, "the agent to have the topology", func() bool {
		return strings.Contains(logs.String(), "complete topology received")
	})
	took := time.Since(start)
	testenv.Eventually(t, time.Minute, "the CompleteTopologyEvent extension to end", func() bool {
		_, err := os.Stat(mark)
		return err == nil || strings.Contains(logs.String(), "extension failed")
	})
	_, err = os.Stat(mark)
	return took, err == nil
}

// TestScaleAgentStart measures issue 17's cheaper topology path: with an application of
// -scale.members members (scaleDefault without it) deploying or Active, what one agent of another,
// one-member application receives when it starts: its cluster's part against the complete
// topology, each asked for by the observer (answer time and size) and by a real agent with its
// member's own credential (time until its CompleteTopologyEvent extension runs).
func TestScaleAgentStart(t *testing.T) {
	n := *scaleMembers
	if n <= 0 {
		n = scaleDefault
	}
	a, ctx := startScalePlatform(t, t.TempDir(), false)
	obs := newObserver(t, ctx, a)
	api := "http://" + a.Addrs().API.String() + "/api"
	client := &http.Client{Timeout: time.Minute}
	size := strconv.Itoa(n)
	app1 := "applications__simple__single-cartridge-app__artifacts__application.json"
	postScaleDefinitions(t, client, api, []scalePost{
		{"/autoscalingPolicies", "autoscaling-policies__autoscaling-policy-1.json", nil},
		{"/networkPartitions", "network-partitions__mock__network-partition-1.json", nil},
		{"/deploymentPolicies", "deployment-policies__deployment-policy-1.json", []string{`"partitionMax": 20`, `"partitionMax": ` + strconv.Itoa(n+1)}},
		{"/cartridges", "cartridges__mock__php.json", nil},
		{"/applicationPolicies", "application-policies__application-policy-1.json", nil},
		{"/applications", app1, []string{`"cartridgeMin": 1`, `"cartridgeMin": ` + size, `"cartridgeMax": 5`, `"cartridgeMax": ` + size}},
		{"/applications", app1, []string{scaleApp, partApp, `"cartridgeMax": 5`, `"cartridgeMax": 1`}},
	})
	deploy := func(appID string) {
		if code, resp := scaleCall(t, client, http.MethodPost, api+"/applications/"+appID+"/deploy/application-policy-1", ""); code != http.StatusAccepted {
			t.Fatalf("deploy %s = %d %s, want 202", appID, code, resp)
		}
	}
	deploy(partApp)
	testenv.Eventually(t, time.Minute, "the small application's member to go Active", func() bool { return activeMembers(a, partCluster) == 1 })
	small := a.Controller().Members(partCluster)[0]

	// Progress is counted from the observer's MemberActivatedEvents (the small member's included),
	// not from the controller's members, whose copy per poll costs as much as the deployment.
	deadline := 10*time.Minute + time.Duration(n)*50*time.Millisecond
	deploy(scaleApp)
	testenv.Eventually(t, deadline, "half the members to go Active", func() bool { return obs.activated.Load() >= int64(n/2+1) })
	var rows []string
	// The controller answers a cluster's part at most once per TopologyThrottle: a request within
	// it after the last answer waits for its end, which is not what one agent's start costs. So
	// each request for the part comes a throttle after the one before.
	spaced := func() { time.Sleep(controller.DefaultTopologyThrottle) }
	row := func(when string) {
		spaced()
		partT, partB := obs.askPart(t, partCluster)
		wholeT, wholeB := obs.askTopology(t)
		spaced()
		agentPart, extPart := agentStart(t, a, small, false)
		agentWhole, extWhole := agentStart(t, a, small, true)
		rows = append(rows, fmt.Sprintf("| %d | %s | %d B in %v | %d B in %v | %v (extension ran: %v) | %v (extension ran: %v) |", n, when,
			partB, partT.Round(time.Millisecond), wholeB, wholeT.Round(time.Millisecond),
			agentPart.Round(time.Millisecond), extPart, agentWhole.Round(time.Millisecond), extWhole))
	}
	row("half Active")
	testenv.Eventually(t, deadline, "every member to go Active", func() bool { return obs.activated.Load() >= int64(n+1) })
	row("all Active")
	t.Logf("| N | when | part of the small cluster | complete topology | agent start (part) | agent start (complete) |\n%s", strings.Join(rows, "\n"))
}
