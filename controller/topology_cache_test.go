package controller

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"unsafe"

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
	if st := c.Stats(); st.TopologyEncodes != 1 || st.TopologyEncodeTime <= 0 {
		t.Errorf("12 complete topologies of an unchanged topology counted %d encodings taking %v, want 1 taking some time",
			st.TopologyEncodes, st.TopologyEncodeTime)
	}

	c.mu.Lock()
	c.clusters["c1"].Cluster.MemberMap["m-000000"].PushStatus(model.MemberInMaintenance)
	c.members["m-000000"].changed()
	c.emitLocked(&model.MemberMaintenanceModeEvent{ServiceName: "php", ClusterID: "c1", MemberID: "m-000000"}, nil)
	c.mu.Unlock()
	// The change drops the stale encoding at once (~90 MB at 100 000 members), not when the next
	// complete topology replaces it, which may be long after (nobody asks during an undeploy).
	if c.topoCache.Load() != nil {
		t.Error("the controller kept the encoding of the complete topology after a change")
	}
	c.publishTopology()
	c.publishOut(ctx, batch, &logged)
	got, err := model.Unmarshal(model.TopicOf(&model.CompleteTopologyEvent{}), b.lastRaw)
	if err != nil {
		t.Fatal(err)
	}
	if st := got.(*model.CompleteTopologyEvent).Topology.ServiceMap["php"].ClusterIDClusterMap["c1"].MemberMap["m-000000"].Status(); st != model.MemberInMaintenance {
		t.Errorf("after a change the complete topology has the member %s, want %s", st, model.MemberInMaintenance)
	}
	if n := c.Stats().TopologyEncodes; n != 2 {
		t.Errorf("after a change %d complete topologies were encoded, want 2", n)
	}
}

// BenchmarkCompleteTopology is the cost of one CompleteTopologyEvent (an answer or a sync) by
// cluster size and by how many members changed since the last one: none (the cached bytes),
// one, or every one, as during a deployment. A changed member is written to the state by the
// flusher (included: it encodes the member too) before the topology is asked for.
func BenchmarkCompleteTopology(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, changed := range []string{"none", "one", "every"} {
			b.Run(fmt.Sprintf("members=%d/changed=%s", n, changed), func(b *testing.B) {
				c, _ := controllerWithMembers(b, n)
				ctx := b.Context()
				logged := false
				var batch []outItem
				c.publishTopology() // the first one encodes
				batch = c.publishOut(ctx, batch, &logged)
				b.ReportAllocs()
				for b.Loop() {
					c.mu.Lock()
					var ids []string
					switch changed {
					case "one":
						ids = []string{"m-000042"}
					case "every":
						ids = slices.Collect(maps.Keys(c.members))
					}
					for _, id := range ids {
						c.members[id].changed()
					}
					c.mu.Unlock()
					if len(ids) > 0 {
						c.markDirty(ids...)
						c.flush()
					}
					c.publishTopology()
					batch = c.publishOut(ctx, batch, &logged)
				}
			})
		}
	}
}

// checkEncoding publishes a complete topology and checks that its bytes are those
// encoding/json writes for the controller's topology at that moment.
func checkEncoding(t *testing.T, c *Controller, b *countingBus, when string) {
	t.Helper()
	logged := false
	c.publishTopology()
	c.publishOut(t.Context(), nil, &logged)
	want, err := model.Marshal(&model.CompleteTopologyEvent{Topology: c.Topology()})
	if err != nil {
		t.Fatal(err)
	}
	if string(b.lastRaw) != string(want) {
		t.Errorf("%s: the complete topology published differs from encoding/json's:\n got %.600s\nwant %.600s", when, b.lastRaw, want)
	}
}

// TestCompleteTopologyAssembledAsEncodingJSON: the complete topology assembled from each
// member's cached JSON is byte for byte what encoding/json writes for the whole topology, with
// several services and clusters, keys that need escaping, and after members changed, left and
// came.
func TestCompleteTopologyAssembledAsEncodingJSON(t *testing.T) {
	c, b := controllerWithMembers(t, 20)
	c.cartridges["tomcat"] = &model.Cartridge{Type: "tomcat", Property: []model.NameValue{{Name: "a<b>&c", Value: "\"quoted\" é"}}}
	c.cartridges["idle"] = &model.Cartridge{Type: "idle"}
	cl := &model.Cluster{ServiceName: "tomcat", ClusterID: "app<&>.tomcat", AppID: "app", HostNames: []string{"h.example.com"},
		MemberMap: map[string]*model.Member{}, Properties: model.Properties{"k": "v"},
		InstanceIDToInstanceContextMap: map[string]*model.ClusterInstance{"i-1": {}}}
	c.clusters[cl.ClusterID] = &cluster{Spec: ClusterSpec{ClusterID: cl.ClusterID, ServiceName: "tomcat"}, Cluster: cl}
	for _, id := range []string{"t-1", "t-\u00e9\u2028", "t-\"q\"", "t-<html>"} {
		m := &model.Member{ServiceName: "tomcat", ClusterID: cl.ClusterID, MemberID: id, InitTime: 1700000000000,
			MemberPrivateIPs: []string{"10.0.0.2"}, DefaultPrivateIP: "10.0.0.2", Properties: model.Properties{"min_count": "2"}}
		m.PushStatus(model.MemberCreated)
		cl.MemberMap[id] = m
		c.members[id] = &member{m: m}
	}
	checkEncoding(t, c, b, "first")
	checkEncoding(t, c, b, "unchanged")

	started := func(m *model.Member, _ *cluster) model.Event {
		return &model.MemberStartedEvent{ServiceName: m.ServiceName, ClusterID: m.ClusterID, MemberID: m.MemberID}
	}
	c.mu.Lock()
	c.initializedLocked(c.members["t-1"])
	c.mu.Unlock()
	c.memberTransition(t.Context(), "m-000003", "", model.MemberStarting, started)
	checkEncoding(t, c, b, "after two changes")

	c.mu.Lock()
	c.removeMemberLocked(c.members["t-<html>"])
	c.removeMemberLocked(c.members["m-000007"])
	m := &model.Member{ServiceName: "php", ClusterID: "c1", MemberID: "m-new"}
	m.PushStatus(model.MemberCreated)
	c.clusters["c1"].Cluster.MemberMap[m.MemberID] = m
	c.members[m.MemberID] = &member{m: m}
	c.topoVersion.Add(1)
	c.mu.Unlock()
	checkEncoding(t, c, b, "after members left and came")
}

// TestCompleteTopologyEncodesOnlyChangedMembers: during a deployment members change between two
// requests for the complete topology; the next one encodes the members that changed, not every
// member (issue 17: at 20 000 members an answer during a deployment took 6.5 s, most of it
// encoding). Counted in allocations: one member's encoding, not 10 000.
func TestCompleteTopologyEncodesOnlyChangedMembers(t *testing.T) {
	c, b := controllerWithMembers(t, 10000)
	ctx := t.Context()
	logged := false
	var batch []outItem
	c.publishTopology()
	batch = c.publishOut(ctx, batch, &logged)
	to := []model.MemberStatus{model.MemberStarting, model.MemberActive}
	i := 0
	allocs := testing.AllocsPerRun(10, func() {
		c.memberTransition(ctx, "m-000042", "", to[i%2], func(m *model.Member, _ *cluster) model.Event {
			return &model.MemberStartedEvent{ServiceName: m.ServiceName, ClusterID: m.ClusterID, MemberID: m.MemberID}
		})
		i++
		c.publishTopology()
		batch = c.publishOut(ctx, batch, &logged)
	})
	if allocs > 500 {
		t.Errorf("a complete topology of 10 000 members after one changed costs %v allocations, want the one member encoded (< 500)", allocs)
	}
	got, err := model.Unmarshal(model.TopicOf(&model.CompleteTopologyEvent{}), b.lastRaw)
	if err != nil {
		t.Fatal(err)
	}
	if st := got.(*model.CompleteTopologyEvent).Topology.ServiceMap["php"].ClusterIDClusterMap["c1"].MemberMap["m-000042"].Status(); st != to[(i-1)%2] {
		t.Errorf("the complete topology has the changed member %s, want %s", st, to[(i-1)%2])
	}
}

// TestMemberJSONInTheTopology: once a complete topology is encoded, each member that did not
// change keeps its JSON as a slice of the event's bytes, which the publisher caches anyway,
// instead of a copy of its own (issue 17: ~1 KB a member); the next topology is still right.
func TestMemberJSONInTheTopology(t *testing.T) {
	c, b := controllerWithMembers(t, 1000)
	c.markDirty(slices.Collect(maps.Keys(c.members))...)
	c.flush() // every member encoded on its own, for the state
	checkEncoding(t, c, b, "first")
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b.lastRaw)))
	hi := lo + uintptr(len(b.lastRaw))
	own := 0
	c.mu.Lock()
	for _, m := range c.members {
		if p := uintptr(unsafe.Pointer(unsafe.SliceData(m.enc))); m.enc == nil || p < lo || p >= hi {
			own++
		}
	}
	c.mu.Unlock()
	if own > 0 {
		t.Errorf("%d of 1 000 members keep a JSON of their own, want each a slice of the complete topology", own)
	}
	c.mu.Lock()
	c.members["m-000001"].m.PushStatus(model.MemberInMaintenance)
	c.members["m-000001"].changed()
	c.topoVersion.Add(1)
	c.mu.Unlock()
	c.markDirty("m-000001")
	c.flush()
	checkEncoding(t, c, b, "after a change")
}

// TestActiveMembersSharePortMap: the members of a cluster that go Active share their cartridge's
// port map instead of one map each (issue 17: ~300 B a member), and a changed cartridge gets a
// new one.
func TestActiveMembersSharePortMap(t *testing.T) {
	c, _ := controllerWithMembers(t, 100)
	ct := &model.Cartridge{Type: "php", PortMapping: []model.PortMapping{{Name: "http", Protocol: "http", Port: 8080, ProxyPort: 8280}}}
	c.cartridges["php"] = ct
	activate := func() map[unsafe.Pointer]int {
		seen := map[unsafe.Pointer]int{}
		for id, mem := range c.members {
			mem.m.MemberStateManager.StateStack = []model.MemberStatus{model.MemberStarting}
			c.memberTransition(t.Context(), id, "", model.MemberActive, func(m *model.Member, _ *cluster) model.Event {
				return &model.MemberActivatedEvent{ServiceName: m.ServiceName, ClusterID: m.ClusterID, MemberID: m.MemberID, PortMap: maps.Clone(m.PortMap)}
			})
			seen[reflect.ValueOf(mem.m.PortMap).UnsafePointer()]++
		}
		return seen
	}
	if got := activate(); len(got) != 1 {
		t.Errorf("100 Active members have %d port maps, want 1", len(got))
	}
	first := c.members["m-000000"].m.PortMap
	if want := ct.PortMap(); !maps.Equal(first, want) {
		t.Errorf("port map %v, want %v", first, want)
	}
	c.cartridges["php"] = &model.Cartridge{Type: "php", PortMapping: []model.PortMapping{{Name: "http", Protocol: "http", Port: 9090, ProxyPort: 8280}}}
	activate()
	if got := c.members["m-000000"].m.PortMap[8280].Value; got != 9090 {
		t.Errorf("after the cartridge changed the port is %d, want 9090", got)
	}
}

// TestTopologyPartsShareMemberMaps: the parts of a complete topology copy each changed member's
// fields for the encoding, not its maps and lists, which the controller never changes in place
// (issue 17: the copies of the port maps and state stacks made ~500 B a member of a topology
// asked for during a deployment of 100 000 members).
func TestTopologyPartsShareMemberMaps(t *testing.T) {
	const n = 2000
	c, _ := controllerWithMembers(t, n)
	allocs := testing.AllocsPerRun(3, func() {
		c.mu.Lock()
		p := c.topologyPartsLocked()
		c.mu.Unlock()
		if len(p.members["c1"]) != n {
			t.Fatalf("%d members in the parts, want %d", len(p.members["c1"]), n)
		}
	})
	if per := allocs / n; per > 1.1 {
		t.Errorf("the parts of a topology of %d changed members cost %.1f allocations a member, want one (the copy of its fields)", n, per)
	}
}
