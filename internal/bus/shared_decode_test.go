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

// TestEventDecodedOnce: an event that reaches several consumers of one client is decoded once
// and the consumers get the same event (issue 17: the CEP, the autoscaler and the load balancer
// each decoded their own complete topology, ~400 MB at 100 000 members, and a member event was
// decoded by up to six consumers); the next message is decoded afresh.
func TestEventDecodedOnce(t *testing.T) {
	t.Parallel()
	url := runBroker(t, BrokerOptions{MaxPacketSize: 64 << 20}).URL()
	sub := runClient(t, Options{URLs: []string{url}})
	ctx := ctxT(t)
	const consumers = 3
	events := []model.Event{bigTopology(1000), &model.MemberTerminatedEvent{ServiceName: "php", ClusterID: "c1",
		MemberID: "c1.member-1", Properties: model.Properties{"MIN_COUNT": "1"}}}
	got := make(chan model.Event, len(events)*consumers)
	all := []chan struct{}{make(chan struct{}), make(chan struct{})} // one per round
	arrived := make(chan struct{}, consumers)
	for i := range consumers {
		round := 0
		if err := sub.Consumer(fmt.Sprint("c", i)).SubscribeEvents(ctx, "topology/#", func(_ string, e model.Event) {
			arrived <- struct{}{}
			<-all[round] // each holds its event until every consumer has one
			round++
			got <- e
		}); err != nil {
			t.Fatal(err)
		}
	}
	raw := make(chan []byte, len(events))
	if err := sub.Consumer("raw").Subscribe(ctx, "topology/#", func(_ string, b []byte) { raw <- b }); err != nil {
		t.Fatal(err)
	}
	sub.waitFor(t, Connected)
	pub := runClient(t, Options{URLs: []string{url}})
	var kept []model.Event // every round's event stays alive, so that a new one cannot take its address
	for round, ev := range events {
		if err := pub.PublishEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		for range consumers {
			select {
			case <-arrived:
			case <-time.After(wait):
				t.Fatalf("round %d: a consumer got no event", round)
			}
		}
		close(all[round])
		seen := map[model.Event]bool{}
		for range consumers {
			e := <-got
			if fmt.Sprintf("%T", e) != fmt.Sprintf("%T", ev) {
				t.Fatalf("round %d: a consumer got a %T, want a %T", round, e, ev)
			}
			seen[e] = true
			kept = append(kept, e)
		}
		if len(seen) != 1 {
			t.Errorf("round %d: %d consumers got %d decoded events, want 1", round, consumers, len(seen))
		}
		if b := <-raw; len(b) == 0 {
			t.Errorf("round %d: the raw subscription got an empty payload", round)
		}
	}
	if kept[0] == kept[len(kept)-1] {
		t.Error("two messages gave the same event")
	}
	if n := sub.Stats().SharedDecodes; n != uint64(len(events)*(consumers-1)) {
		t.Errorf("Stats.SharedDecodes = %d, want %d", n, len(events)*(consumers-1))
	}
}
