package bus

import (
	"fmt"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// bigTopology is a CompleteTopologyEvent of n members in one cluster.
func bigTopology(n int) *model.CompleteTopologyEvent {
	cl := &model.Cluster{ServiceName: "php", ClusterID: "c1", MemberMap: map[string]*model.Member{}}
	for i := range n {
		m := &model.Member{ServiceName: "php", ClusterID: "c1", MemberID: fmt.Sprintf("c1.member-%06d", i), ClusterInstanceID: "c1-1",
			NetworkPartitionID: "np1", PartitionID: "p1", DefaultPrivateIP: "10.0.0.1", MemberPrivateIPs: []string{"10.0.0.1"},
			PortMap: model.PortMap{8280: {Protocol: "http", Value: 8080, Proxy: 8280}}, Properties: model.Properties{"MIN_COUNT": "1"}}
		m.PushStatus(model.MemberActive)
		cl.MemberMap[m.MemberID] = m
	}
	return &model.CompleteTopologyEvent{Topology: &model.Topology{ServiceMap: map[string]*model.Service{
		"php": {ServiceName: "php", ClusterIDClusterMap: map[string]*model.Cluster{"c1": cl}}}}}
}

// TestCompleteTopologyDecodedOnce: a complete topology that reaches several consumers of one
// client at once is decoded once and the consumers get the same event (issue 17: the CEP, the
// autoscaler and the load balancer each decoded their own, ~400 MB at 100 000 members); a later
// one is decoded afresh.
func TestCompleteTopologyDecodedOnce(t *testing.T) {
	t.Parallel()
	url := runBroker(t, BrokerOptions{MaxPacketSize: 64 << 20}).URL()
	sub := runClient(t, Options{URLs: []string{url}})
	ctx := ctxT(t)
	const consumers, members = 3, 1000
	got := make(chan *model.CompleteTopologyEvent, 2*consumers)
	all := []chan struct{}{make(chan struct{}), make(chan struct{})} // one per round
	arrived := make(chan struct{}, consumers)
	for i := range consumers {
		round := 0
		if err := sub.Consumer(fmt.Sprint("c", i)).SubscribeEvents(ctx, "topology/#", func(_ string, e model.Event) {
			ev, _ := e.(*model.CompleteTopologyEvent)
			arrived <- struct{}{}
			<-all[round] // each holds its event until every consumer has one
			round++
			got <- ev
		}); err != nil {
			t.Fatal(err)
		}
	}
	sub.waitFor(t, Connected)
	pub := runClient(t, Options{URLs: []string{url}})
	ev := bigTopology(members)
	if b, _ := model.Marshal(ev); len(b) < sharedDecodeMin {
		t.Fatalf("the topology is %d bytes, want at least %d", len(b), sharedDecodeMin)
	}
	for round := range 2 {
		if err := pub.PublishEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		for range consumers {
			select {
			case <-arrived:
			case <-time.After(wait):
				t.Fatal("a consumer got no complete topology")
			}
		}
		close(all[round])
		seen := map[*model.CompleteTopologyEvent]bool{}
		for range consumers {
			e := <-got
			if e == nil || len(e.Topology.ServiceMap["php"].ClusterIDClusterMap["c1"].MemberMap) != members {
				t.Fatalf("round %d: a consumer got %+v", round, e)
			}
			seen[e] = true
		}
		if len(seen) != 1 {
			t.Errorf("round %d: %d consumers got %d decoded topologies, want 1", round, consumers, len(seen))
		}
	}
	if n := sub.Stats().SharedDecodes; n != 2*(consumers-1) {
		t.Errorf("Stats.SharedDecodes = %d, want %d", n, 2*(consumers-1))
	}
}
