package autoscaler

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// idStarter starts members with the ids it was given, in order, as the controller would (the ids
// are the controller's, not the autoscaler's, to keep).
type idStarter struct {
	mu  sync.Mutex
	ids []string
	n   int
}

func (s *idStarter) StartMember(_ context.Context, req StartRequest) (model.Member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.ids[s.n]
	s.n++
	m := model.Member{ClusterID: req.ClusterID, MemberID: id, ClusterInstanceID: req.ClusterInstanceID,
		NetworkPartitionID: req.NetworkPartitionID, PartitionID: req.PartitionID}
	m.PushStatus(model.MemberCreated)
	return m, nil
}

func (s *idStarter) TerminateMember(context.Context, string, bool) error { return nil }

// maxMemberHeap bounds the live heap a member costs the autoscaler once its cluster is deployed
// (issue 17: ~690 B a member at 100 000, of which the deploying round's actions, one trace
// step per start and the last complete topology's members were kept after they served).
const maxMemberHeap = 280

// TestMemberHeap: a cluster instance deployed with 20 000 members (min = max), then a round more
// and a complete topology, costs the autoscaler at most maxMemberHeap bytes of live heap a member:
// its member record, its lists and the decisions of the rounds, not the round's work.
func TestMemberHeap(t *testing.T) {
	const n = 20000
	st := &idStarter{ids: make([]string, n)}
	for i := range st.ids {
		st.ids[i] = model.NewMemberID("app.php.php.domain")
	}
	set := buildSet(t, strings.ReplaceAll(scalingPolicies("round-robin", "enforce", ""), "partitionMax: 3", "partitionMax: 100000"))
	clock := newFakeClock()
	a, err := New(Options{Policies: &staticPolicies{set}, Starter: st, Recorder: &countRecorder{}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	before := testenv.LiveHeap()
	register(t, a, n, n)
	a.Evaluate(context.Background())
	testenv.Eventually(t, time.Minute, "every member started", func() bool { return a.Stats().Members == n })
	clock.Set(clock.Now().Add(time.Minute))
	a.Evaluate(context.Background())
	a.HandleEvent(&model.CompleteTopologyEvent{Topology: topologyOf(st.ids)}) // the periodic one: every member known
	after := testenv.LiveHeap()
	runtime.KeepAlive(st)
	runtime.KeepAlive(a)
	per := (after - before) / n
	t.Logf("%d B of live heap a member", per)
	if per > maxMemberHeap {
		t.Errorf("%d B of live heap a member, want at most %d", per, maxMemberHeap)
	}
}

// topologyOf is a complete topology with the Active members ids of cluster app.php.php.domain,
// each its own strings, as decoded from the bus.
func topologyOf(ids []string) *model.Topology {
	cl := &model.Cluster{ServiceName: "php", ClusterID: "app.php.php.domain", MemberMap: map[string]*model.Member{}}
	for _, id := range ids {
		m := &model.Member{ServiceName: "php", ClusterID: strings.Clone(cl.ClusterID), MemberID: strings.Clone(id),
			ClusterInstanceID: strings.Clone("php-1"), NetworkPartitionID: strings.Clone("np1"), PartitionID: strings.Clone("p1")}
		m.PushStatus(model.MemberActive)
		cl.MemberMap[m.MemberID] = m
	}
	return &model.Topology{ServiceMap: map[string]*model.Service{"php": {ServiceName: "php",
		ClusterIDClusterMap: map[string]*model.Cluster{cl.ClusterID: cl}}}}
}
