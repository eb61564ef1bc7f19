package lb

import (
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// TestNetworkPartitionLearnedWhileSampling is the regression test of the data race on a
// cluster's network partition: the topology consumer learns it from the cluster's first member
// while the stats publisher reads it for the samples of instances without one. Under -race it
// fails on code that writes or reads it outside the cluster's stats lock; without -race it
// checks that the learnt partition reaches the samples.
func TestNetworkPartitionLearnedWhileSampling(t *testing.T) {
	t.Parallel()
	proxy := freePort(t)
	l, fb := startLB(t, Options{NetworkPartitionID: "np-default"})
	fb.send(&model.CompleteTopologyEvent{Topology: topology(proxy, clusterWith("php", "c1", []string{"c1"}, proxy))})

	now := time.Unix(1_700_000_000, 0)
	var wg sync.WaitGroup
	wg.Go(func() { // the stats publisher
		for range 200 {
			l.sample(now, time.Second)
		}
	})
	// The topology consumer, meanwhile: the cluster's first member brings its network partition.
	fb.send(&model.MemberCreatedEvent{ServiceName: "php", ClusterID: "c1", MemberID: "m1",
		ClusterInstanceID: "c1-1", NetworkPartitionID: "np1"})
	wg.Wait()

	events := l.sample(now, time.Second)
	if len(events) != 1 {
		t.Fatalf("%d samples, want 1 (the cluster's, instance not-defined)", len(events))
	}
	s, ok := events[0].HealthSample()
	if !ok || s.ClusterID != "c1" || s.NetworkPartitionID != "np1" {
		t.Errorf("sample %+v, want cluster c1 in the member's network partition np1", s)
	}
}
