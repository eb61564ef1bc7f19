package agent

import (
	"context"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// publishPart publishes a cluster's part of the topology as the controller does: a
// CompleteTopologyEvent body on the cluster's own topic.
func (s *controllerSim) publishPart(clusterID string, topo *model.Topology) {
	s.t.Helper()
	body, err := model.Marshal(model.CompleteTopologyEvent{Topology: topo})
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.bus.Publish(context.Background(), model.ClusterTopologyTopic(clusterID), body, 1); err != nil {
		s.t.Fatal(err)
	}
}

// runTopologyAgent runs the agent of testMember against the broker at url, asking for the
// topology every interval, with LB_CLUSTER_ID lbCluster.
func runTopologyAgent(t *testing.T, url string, interval time.Duration, lbCluster string) {
	t.Helper()
	runAgent(t, Config{
		ApplicationID: "app1", ServiceName: testService, ClusterID: testCluster, MemberID: testMember,
		ClusterInstanceID: "app1-1", ExtensionsDir: t.TempDir(), BrokerURLs: []string{url},
		BrokerUsername: memberUser, BrokerPassword: memberPassword, LBClusterID: lbCluster,
		TopologyRequestInterval: interval, Logger: testLogger(t),
	})
}

// TestAgentAsksForItsClusterPart: the agent asks for its own cluster's part of the topology and,
// answered on the cluster's topic with its member Initialized, starts without ever asking for the
// complete topology; a complete topology published meanwhile does not reach it.
func TestAgentAsksForItsClusterPart(t *testing.T) {
	url := startBroker(t)
	cc := newControllerSim(t, url)
	runTopologyAgent(t, url, time.Hour, "")
	req := next[*model.ClusterTopologyRequestEvent](cc, 20*time.Second)
	if req.ClusterID != testCluster {
		t.Errorf("the agent asked for the part of %q, want %q", req.ClusterID, testCluster)
	}
	// A complete topology showing the member Initialized would start it: it must not arrive.
	cc.publish(model.CompleteTopologyEvent{Topology: topologyWith(testService, testCluster, testMember, "127.0.0.1", model.MemberInitialized)})
	expectNone[*model.InstanceStartedEvent](cc, 300*time.Millisecond)
	cc.publishPart(testCluster, topologyWith(testService, testCluster, testMember, "127.0.0.1", model.MemberInitialized))
	deadline := time.After(20 * time.Second)
	for {
		select {
		case e := <-cc.ch:
			switch e.(type) {
			case *model.CompleteTopologyRequestEvent:
				t.Fatal("the agent asked for the complete topology")
			case *model.InstanceStartedEvent:
				return
			}
		case <-deadline:
			t.Fatal("no InstanceStartedEvent after the cluster's part")
		}
	}
}

// TestAgentFallsBackToCompleteTopology: a controller that does not answer the part (a
// Stratos-compatible one) gets partAttempts requests for it, then the Python agent's
// CompleteTopologyRequestEvent, and its CompleteTopologyEvent starts the agent.
func TestAgentFallsBackToCompleteTopology(t *testing.T) {
	url := startBroker(t)
	cc := newControllerSim(t, url)
	runTopologyAgent(t, url, 100*time.Millisecond, "")
	parts := 0
	deadline := time.After(20 * time.Second)
	for done := false; !done; {
		select {
		case e := <-cc.ch:
			switch e.(type) {
			case *model.ClusterTopologyRequestEvent:
				parts++
			case *model.CompleteTopologyRequestEvent:
				done = true
			}
		case <-deadline:
			t.Fatal("no CompleteTopologyRequestEvent")
		}
	}
	if parts != partAttempts {
		t.Errorf("%d part requests before the complete one, want %d", parts, partAttempts)
	}
	cc.publish(model.CompleteTopologyEvent{Topology: topologyWith(testService, testCluster, testMember, "127.0.0.1", model.MemberInitialized)})
	next[*model.InstanceStartedEvent](cc, 20*time.Second)
}

// TestAgentWithOtherLBClusterAsksForCompleteTopology: an agent whose LB_CLUSTER_ID names another
// cluster needs that cluster's members too, so it asks for the complete topology at once.
func TestAgentWithOtherLBClusterAsksForCompleteTopology(t *testing.T) {
	url := startBroker(t)
	cc := newControllerSim(t, url)
	runTopologyAgent(t, url, time.Hour, "lb.haproxy.domain")
	select {
	case e := <-cc.ch:
		if _, ok := e.(*model.CompleteTopologyRequestEvent); !ok {
			t.Fatalf("the agent's first request is %T, want a CompleteTopologyRequestEvent", e)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no request")
	}
}
