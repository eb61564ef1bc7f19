package autoscaler

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// termStarter records terminate calls and whether they were forced.
type termStarter struct {
	recStarter
	mu     sync.Mutex
	forced map[string]bool
}

func (s *termStarter) TerminateMember(_ context.Context, memberID string, forced bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.forced == nil {
		s.forced = map[string]bool{}
	}
	s.forced[memberID] = forced
	return nil
}

// TestObsoleteTerminatedAtOnce: an obsolete member is terminated forcibly, so the controller
// does not start its own graceful termination (cleanup events to a dead agent, the member Active
// in the topology until the graceful timeout). Found by bench's TestKilledMemberReplaced: a
// member killed in the mock IaaS stayed in the topology for GracefulTimeout after its fault.
func TestObsoleteTerminatedAtOnce(t *testing.T) {
	clock := newFakeClock()
	st := &termStarter{}
	a, err := New(Options{Policies: &staticPolicies{buildSet(t, scalingPolicies("round-robin", "enforce", ""))}, Starter: st, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	register(t, a, 2, 6)
	a.Evaluate(context.Background())
	if n := st.count(); n != 2 {
		t.Fatalf("%d starts, want 2", n)
	}
	// The members as recStarter named them; activate both.
	for i := 1; i <= 2; i++ {
		id := "app.php.php.domain-m" + string(rune('0'+i))
		a.HandleEvent(&model.MemberActivatedEvent{ClusterID: "app.php.php.domain", ClusterInstanceID: "php-1", MemberID: id,
			PartitionID: map[int]string{1: "p1", 2: "p2"}[i], NetworkPartitionID: "np1"})
	}
	victim := "app.php.php.domain-m1"
	a.HandleSummary(model.Summary{Kind: model.MemberFault, ClusterID: "app.php.php.domain", ClusterInstanceID: "php-1",
		NetworkPartitionID: "np1", PartitionID: "p1", MemberID: victim})
	clock.Set(epoch.Add(time.Second))
	a.Evaluate(context.Background())
	st.mu.Lock()
	forced, called := st.forced[victim]
	st.mu.Unlock()
	if !called {
		t.Fatalf("the faulty member was not terminated; calls %v", st.forced)
	}
	if !forced {
		t.Error("the faulty (obsolete) member was terminated gracefully; want forced")
	}
	if n := st.count(); n != 3 {
		t.Errorf("%d starts, want 3 (one replacement)", n)
	}
}
