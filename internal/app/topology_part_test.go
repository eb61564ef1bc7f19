package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/strata-paas/strata/agent"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// secondCluster is the cluster of the second application deployTwo deploys.
const secondCluster = "second-app.my-php.php.domain"

// noRepo takes the artifact repository out of the sample's application, so that an agent does
// not clone it from the Internet.
func noRepo(_, body string) string {
	return strings.Replace(body, "https://github.com/lakwarus/single-cartridge.git", "", 1)
}

// deployTwo deploys the single-cartridge sample (mockCluster) and a copy of it named second-app,
// both without their repository, and waits until each has an Active member; it returns the
// sample's member.
func deployTwo(t *testing.T, s *started) model.Member {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	deploySample(t, s, client, noRepo)
	first := s.app.Controller().Members(mockCluster)[0]
	api := "http://" + s.app.Addrs().API.String() + "/api"
	b, err := os.ReadFile(filepath.Join("testdata", "stratos-samples", "applications__simple__single-cartridge-app__artifacts__application.json"))
	if err != nil {
		t.Fatal(err)
	}
	second := strings.ReplaceAll(noRepo("", string(b)), "single-cartridge-app", "second-app")
	if code, body := call(t, client, http.MethodPost, api+"/applications", second); code != http.StatusCreated {
		t.Fatalf("POST the second application = %d %s", code, body)
	}
	if code, body := call(t, client, http.MethodPost, api+"/applications/second-app/deploy/application-policy-1", ""); code != http.StatusAccepted {
		t.Fatalf("deploy the second application = %d %s", code, body)
	}
	testenv.Eventually(t, 60*time.Second, "an Active member of the second application", func() bool {
		for _, m := range s.app.Controller().Members(secondCluster) {
			if m.Status() == model.MemberActive {
				return true
			}
		}
		return false
	})
	return first
}

// TestAgentGetsOnlyItsClusterTopology: Strata's agent, with its member's own broker credential
// against a platform running two applications, gets its own cluster's part of the topology and
// not the complete topology: the topology its CompleteTopologyEvent extension sees holds its
// cluster and its member, and not the other application's cluster.
func TestAgentGetsOnlyItsClusterTopology(t *testing.T) {
	t.Parallel()
	s := start(t, testOptions(t))
	m := deployTwo(t, s)
	p, ok := s.app.Mock().Payload(m.MemberID)
	if !ok {
		t.Fatalf("no payload for %s", m.MemberID)
	}
	get := func(k string) string { v, _ := p.Get(k); return v }

	dir := t.TempDir()
	script := "#!/bin/bash\nprintf '%s' \"$STRATOS_TOPOLOGY_JSON\" > " + filepath.Join(dir, "topology.json.tmp") +
		"\nprintf '%s' \"$STRATOS_MEMBER_LIST_JSON\" > " + filepath.Join(dir, "members.json") +
		"\nmv " + filepath.Join(dir, "topology.json.tmp") + " " + filepath.Join(dir, "topology.json") + "\n"
	if err := os.WriteFile(filepath.Join(dir, agent.ExtCompleteTopology+".sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	a, err := agent.New(agent.Config{
		ApplicationID: get(model.PayloadApplicationID), ServiceName: m.ServiceName, ClusterID: m.ClusterID, MemberID: m.MemberID,
		ClusterInstanceID: m.ClusterInstanceID, ExtensionsDir: dir, ApplicationPath: t.TempDir(),
		BrokerURLs: []string{brokerURL(s)}, BrokerUsername: get(model.PayloadMBUsername), BrokerPassword: get(model.PayloadMBPassword),
		TopologyRequestInterval: time.Minute, // one request: the part must answer it, no fallback within the test
		Logger:                  testenv.Logger(t, slog.LevelInfo),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	var topo model.Topology
	testenv.Eventually(t, 30*time.Second, "the CompleteTopologyEvent extension", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "topology.json"))
		return err == nil && json.Unmarshal(b, &topo) == nil
	})
	var clusters []string
	for _, svc := range topo.ServiceMap {
		for id := range svc.ClusterIDClusterMap {
			clusters = append(clusters, id)
		}
	}
	if len(clusters) != 1 || clusters[0] != m.ClusterID {
		t.Errorf("the agent's topology holds clusters %q, want only its own %s (not %s)", clusters, m.ClusterID, secondCluster)
	}
	var members []model.Member
	b, err := os.ReadFile(filepath.Join(dir, "members.json"))
	if err != nil || json.Unmarshal(b, &members) != nil {
		t.Fatalf("MEMBER_LIST_JSON: %v %s", err, b)
	}
	if len(members) != 1 || members[0].MemberID != m.MemberID {
		t.Errorf("MEMBER_LIST_JSON = %s, want the member %s", b, m.MemberID)
	}
}

// TestClusterTopologyPartACL: a member's credential may ask for and read its own cluster's part
// of the topology, and neither ask for nor read another application's: the subscription is
// refused (SUBACK 0x80) and the request dropped and counted.
func TestClusterTopologyPartACL(t *testing.T) {
	t.Parallel()
	s := start(t, testOptions(t))
	m := deployTwo(t, s)
	p, _ := s.app.Mock().Payload(m.MemberID)
	get := func(k string) string { v, _ := p.Get(k); return v }
	c, err := mqttConnect(t, brokerURL(s), "part-acl", get(model.PayloadMBUsername), get(model.PayloadMBPassword))
	if err != nil {
		t.Fatalf("the member's credential was refused: %v", err)
	}
	got := make(chan []byte, 4)
	for _, tt := range []struct {
		topic string
		want  byte
	}{
		{model.ClusterTopologyTopic(secondCluster), 0x80},
		{model.ClusterTopologyPrefix + "+", 0x80},
		{model.ClusterTopologyTopic(m.ClusterID), 1},
	} {
		tok := c.Subscribe(tt.topic, 1, func(_ mqtt.Client, msg mqtt.Message) { got <- msg.Payload() })
		if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe %s: %v", tt.topic, tok.Error())
		}
		if code := tok.(*mqtt.SubscribeToken).Result()[tt.topic]; code != tt.want {
			t.Errorf("SUBACK of %s = %#x, want %#x", tt.topic, code, tt.want)
		}
	}
	refused := metric(t, s, "strata_broker_publish_refused_total")
	for _, id := range []string{secondCluster, m.ClusterID} {
		body, err := model.Marshal(model.ClusterTopologyRequestEvent{ClusterID: id})
		if err != nil {
			t.Fatal(err)
		}
		tok := c.Publish(model.TopicOf(model.ClusterTopologyRequestEvent{}), 1, false, body)
		if !tok.WaitTimeout(20*time.Second) || tok.Error() != nil {
			t.Fatalf("publish the request for %s: %v", id, tok.Error())
		}
	}
	if n := metric(t, s, "strata_broker_publish_refused_total"); n != refused+1 {
		t.Errorf("strata_broker_publish_refused_total = %v, want %v (the request for another cluster)", n, refused+1)
	}
	select {
	case body := <-got:
		e, err := model.Unmarshal(model.TopicOf(model.CompleteTopologyEvent{}), body)
		if err != nil {
			t.Fatal(err)
		}
		topo := e.(*model.CompleteTopologyEvent).Topology
		if cl := topo.ServiceMap[m.ServiceName].ClusterIDClusterMap[m.ClusterID]; cl == nil || cl.MemberMap[m.MemberID] == nil {
			t.Errorf("the part of %s lacks the cluster or its member: %s", m.ClusterID, body)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no answer to the request for the member's own cluster")
	}
}
