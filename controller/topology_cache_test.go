package controller

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
)

// countingBus counts what the controller publishes, encoded or as events.
type countingBus struct {
	mu          sync.Mutex
	events, raw int
	lastRaw     []byte
}

func (b *countingBus) PublishEvent(context.Context, model.Event) error {
	b.mu.Lock()
	b.events++
	b.mu.Unlock()
	return nil
}

func (b *countingBus) Publish(_ context.Context, _ string, payload []byte, _ byte) error {
	b.mu.Lock()
	b.raw++
	b.lastRaw = payload
	b.mu.Unlock()
	return nil
}

func (*countingBus) SubscribeEvents(context.Context, string, bus.EventHandler) error { return nil }

// controllerWithMembers is a controller (not running) whose topology holds one cluster of n
// Active members.
func controllerWithMembers(tb testing.TB, n int) (*Controller, *countingBus) {
	tb.Helper()
	b := &countingBus{}
	c, err := New(Options{Bus: b, DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	cl := &model.Cluster{ServiceName: "php", ClusterID: "c1", MemberMap: map[string]*model.Member{},
		InstanceIDToInstanceContextMap: map[string]*model.ClusterInstance{}}
	for i := range n {
		m := &model.Member{ServiceName: "php", ClusterID: "c1", MemberID: fmt.Sprintf("m-%06d", i), DefaultPrivateIP: "10.0.0.1",
			PortMap: model.PortMap{8280: {Protocol: "http", Value: 8080, Proxy: 8280}}}
		m.PushStatus(model.MemberActive)
		cl.MemberMap[m.MemberID] = m
		c.members[m.MemberID] = &member{m: m}
	}
	c.cartridges["php"] = &model.Cartridge{Type: "php"}
	c.clusters["c1"] = &cluster{Spec: ClusterSpec{ClusterID: "c1", ServiceName: "php"}, Cluster: cl}
	return c, b
}

// TestCompleteTopologyEncodedOncePerChange: answers and syncs of an unchanged topology publish
// the bytes encoded for the first one, without copying or encoding the topology again; a change
// makes the next one encode afresh.
func TestCompleteTopologyEncodedOncePerChange(t *testing.T) {
	c, b := controllerWithMembers(t, 10000)
	ctx := t.Context()
	logged := false
	var batch []outItem
	c.publishTopology()
	batch = c.publishOut(ctx, batch, &logged)
	first := b.lastRaw
	allocs := testing.AllocsPerRun(10, func() {
		c.publishTopology()
		batch = c.publishOut(ctx, batch, &logged)
	})
	if allocs > 10 {
		t.Errorf("a complete topology of 10 000 unchanged members costs %v allocations, want it taken from the cache", allocs)
	}
	if &b.lastRaw[0] != &first[0] {
		t.Error("the unchanged topology was encoded again")
	}
	if b.events != 0 || b.raw != 12 {
		t.Errorf("published %d events and %d encoded messages, want 0 and 12", b.events, b.raw)
	}

	c.mu.Lock()
	c.clusters["c1"].Cluster.MemberMap["m-000000"].PushStatus(model.MemberInMaintenance)
	c.emitLocked(&model.MemberMaintenanceModeEvent{ServiceName: "php", ClusterID: "c1", MemberID: "m-000000"}, nil)
	c.mu.Unlock()
	c.publishTopology()
	c.publishOut(ctx, batch, &logged)
	got, err := model.Unmarshal(model.TopicOf(&model.CompleteTopologyEvent{}), b.lastRaw)
	if err != nil {
		t.Fatal(err)
	}
	if st := got.(*model.CompleteTopologyEvent).Topology.ServiceMap["php"].ClusterIDClusterMap["c1"].MemberMap["m-000000"].Status(); st != model.MemberInMaintenance {
		t.Errorf("after a change the complete topology has the member %s, want %s", st, model.MemberInMaintenance)
	}
}

// BenchmarkCompleteTopology is the cost of one CompleteTopologyEvent (an answer or a sync) by
// cluster size: unchanged, from the cache; changed, a snapshot and an encoding (what every
// answer and sync cost before the cache).
func BenchmarkCompleteTopology(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, changed := range []bool{false, true} {
			b.Run(fmt.Sprintf("members=%d/changed=%v", n, changed), func(b *testing.B) {
				c, _ := controllerWithMembers(b, n)
				ctx := b.Context()
				logged := false
				var batch []outItem
				c.publishTopology() // the first one encodes
				batch = c.publishOut(ctx, batch, &logged)
				b.ReportAllocs()
				for b.Loop() {
					if changed {
						c.topoVersion.Add(1)
					}
					c.publishTopology()
					batch = c.publishOut(ctx, batch, &logged)
				}
			})
		}
	}
}
