package lb

import (
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// lbWithMembers returns a load balancer (not running: no ports) that knows one cluster of n
// Active members, from one complete topology.
func lbWithMembers(tb testing.TB, n int) *LB {
	tb.Helper()
	l, err := New(Options{Bus: &fakeBus{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	members := make([]memberSpec, n)
	for i := range members {
		members[i] = memberSpec{id: fmt.Sprintf("m-%06d", i), instance: "i-1", port: 8080, status: model.MemberActive}
	}
	l.apply(&model.CompleteTopologyEvent{Topology: topology(8280, clusterWith("php", "c1", []string{"php.example"}, 8280, members...))})
	return l
}

// memberCycle is one member's whole life in the load balancer's view: created, initialized,
// started, activated, then terminated.
func memberCycle(id string) []model.Event {
	const svc, cl, inst, np, ip = "php", "c1", "i-1", "np1", "10.0.0.1"
	return []model.Event{
		&model.MemberCreatedEvent{ServiceName: svc, ClusterID: cl, ClusterInstanceID: inst, NetworkPartitionID: np, MemberID: id},
		&model.MemberInitializedEvent{ServiceName: svc, ClusterID: cl, ClusterInstanceID: inst, NetworkPartitionID: np, MemberID: id,
			DefaultPrivateIP: ip},
		&model.MemberStartedEvent{ServiceName: svc, ClusterID: cl, ClusterInstanceID: inst, NetworkPartitionID: np, MemberID: id},
		&model.MemberActivatedEvent{ServiceName: svc, ClusterID: cl, ClusterInstanceID: inst, NetworkPartitionID: np, MemberID: id,
			DefaultPrivateIP: ip, PortMap: model.PortMap{8280: {Protocol: "http", Value: 8080, Proxy: 8280}}},
		&model.MemberTerminatedEvent{ServiceName: svc, ClusterID: cl, ClusterInstanceID: inst, NetworkPartitionID: np, MemberID: id},
	}
}

// TestMemberEventCostIndependentOfClusterSize: a member's events allocate as much in a cluster
// of 10 000 members as in one of 10 (issue 17: each event rebuilt the cluster's whole table,
// about N² work over a deployment).
func TestMemberEventCostIndependentOfClusterSize(t *testing.T) {
	allocs := map[int]float64{}
	for _, n := range []int{10, 10000} {
		l := lbWithMembers(t, n)
		events := memberCycle("extra")
		allocs[n] = testing.AllocsPerRun(20, func() {
			for _, e := range events {
				l.apply(e)
			}
		})
		if _, _, got, _ := l.table.Load().ports[8280].only.backends.at(0); got != n {
			t.Fatalf("%d members: %d backends after the cycle, want %d", n, got, n)
		}
	}
	if allocs[10000] > allocs[10]+1 {
		t.Errorf("allocations per member life cycle: %v with 10 members, %v with 10 000; want the same", allocs[10], allocs[10000])
	}
}

// BenchmarkMemberEvent is the cost of one member's life cycle (five events) in the load
// balancer, by cluster size: it must not grow with the size.
func BenchmarkMemberEvent(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			l := lbWithMembers(b, n)
			events := memberCycle("extra")
			b.ReportAllocs()
			for b.Loop() {
				for _, e := range events {
					l.apply(e)
				}
			}
		})
	}
}

// TestMembersShareIDsAndPortMaps: the members of a cluster hold one copy of their cluster
// instance and network partition ids and of their port map, although each event carries (as
// decoded from the bus) its own (issue 17: ~400 B a member).
func TestMembersShareIDsAndPortMaps(t *testing.T) {
	l := lbWithMembers(t, 0)
	for i := range 100 {
		for _, e := range memberCycle(fmt.Sprintf("m-%03d", i))[:4] {
			switch e := e.(type) { // as decoded: every event its own strings and map
			case *model.MemberCreatedEvent:
				e.ClusterInstanceID, e.NetworkPartitionID = strings.Clone(e.ClusterInstanceID), strings.Clone(e.NetworkPartitionID)
			case *model.MemberActivatedEvent:
				e.ClusterInstanceID, e.NetworkPartitionID = strings.Clone(e.ClusterInstanceID), strings.Clone(e.NetworkPartitionID)
				e.PortMap = maps.Clone(e.PortMap)
			}
			l.apply(e)
		}
	}
	ids, portMaps := map[*byte]bool{}, map[unsafe.Pointer]bool{}
	l.mu.Lock()
	for _, m := range l.services["php"].clusters["c1"].members {
		ids[unsafe.StringData(m.instanceID)], ids[unsafe.StringData(m.networkPartitionID)] = true, true
		portMaps[reflect.ValueOf(m.portMap).UnsafePointer()] = true
	}
	l.mu.Unlock()
	if len(ids) != 2 || len(portMaps) != 1 {
		t.Errorf("100 members hold %d id strings and %d port maps, want 2 and 1", len(ids), len(portMaps))
	}
	if _, _, got, _ := l.table.Load().ports[8280].only.backends.at(0); got != 100 {
		t.Errorf("%d backends, want 100", got)
	}
}

// maxMemberHeap bounds the live heap an Active member costs the load balancer (its member and
// its backend in the route of its port; issue 17: ~650 B a member at 100 000, of which a
// url.URL per backend was 160 B).
const maxMemberHeap = 400

// TestMemberHeap: a cluster of 20 000 Active members, each from its own events as decoded from
// the bus, costs the load balancer at most maxMemberHeap bytes of live heap a member.
func TestMemberHeap(t *testing.T) {
	const n = 20000
	l := lbWithMembers(t, 0)
	events := make([][]model.Event, n)
	for i := range events {
		events[i] = memberCycle(fmt.Sprintf("php.c1%s", model.NewUUID()))[:4]
	}
	before := testenv.LiveHeap()
	for _, es := range events {
		for _, e := range es {
			l.apply(e)
		}
	}
	after := testenv.LiveHeap()
	runtime.KeepAlive(events)
	if _, _, got, _ := l.table.Load().ports[8280].only.backends.at(0); got != n {
		t.Fatalf("%d backends, want %d", got, n)
	}
	per := (after - before) / n
	t.Logf("%d B of live heap a member", per)
	if per > maxMemberHeap {
		t.Errorf("%d B of live heap a member, want at most %d", per, maxMemberHeap)
	}
}
