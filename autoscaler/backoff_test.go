package autoscaler

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// crashStarter starts members whose instance ends at once, as a cartridge whose command exits
// does: the test reports each end with MemberTerminatedEvent.
type crashStarter struct {
	mu      sync.Mutex
	started []string
}

func (s *crashStarter) StartMember(_ context.Context, req StartRequest) (model.Member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := req.ClusterID + "-m" + strconv.Itoa(len(s.started)+1)
	s.started = append(s.started, id)
	return model.Member{ClusterID: req.ClusterID, MemberID: id, ClusterInstanceID: req.ClusterInstanceID, PartitionID: req.PartitionID}, nil
}

func (s *crashStarter) TerminateMember(context.Context, string, bool) error { return nil }

func (s *crashStarter) StartFailure(_, memberID string) (string, bool) {
	return "server: exit status 1", true
}

func (s *crashStarter) since(n int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.started[n:]...)
}

// TestCrashLoopBacksOff: members of a cluster instance that end at once are replaced after an
// exponential back-off, not at every settle: in 5 minutes of virtual time no more than 8 start
// (issue 15 acceptance). The hold is the decision's reason and in `strata explain`; after
// CrashLoopFailing quick failures the instance is failing; a member Active for a minute ends the
// run.
func TestCrashLoopBacksOff(t *testing.T) {
	clock := newFakeClock()
	st := &crashStarter{}
	rec := &fakeRecorder{}
	a, err := New(Options{Policies: &staticPolicies{buildSet(t, scalingPolicies("round-robin", "enforce", ""))}, Starter: st,
		Clock: clock, Recorder: rec})
	if err != nil {
		t.Fatal(err)
	}
	const cluster = "app.php.php.domain"
	register(t, a, 1, 6)
	seen := 0
	for now := epoch; now.Before(epoch.Add(5 * time.Minute)); now = now.Add(DefaultSettle) {
		clock.Set(now)
		a.Evaluate(context.Background())
		for _, id := range st.since(seen) {
			seen++
			a.HandleEvent(&model.MemberTerminatedEvent{ClusterID: cluster, ClusterInstanceID: "php-1", MemberID: id})
		}
	}
	if seen > 8 || seen < 3 {
		t.Fatalf("%d members started in 5 minutes of a crash loop, want 3 to 8 (backing off, still retrying)", seen)
	}
	var held *model.Decision
	for _, d := range rec.all() {
		if strings.Contains(d.Reason, "start held back: crash-loop back-off until ") {
			held = &d
		}
	}
	if held == nil {
		t.Fatalf("no decision says the start is held back; last: %q", rec.all()[len(rec.all())-1].Reason)
	}
	var out strings.Builder
	if err := RenderTrace(&out, *held); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "start held back: crash-loop back-off until") || !strings.Contains(out.String(), "quick failures") {
		t.Errorf("explain does not show the hold:\n%s", out.String())
	}
	cl, ok := a.CrashLoop(cluster)
	if !ok || cl.Failures != seen || !cl.Failing || cl.ClusterInstanceID != "php-1" || !cl.Until.After(clock.Now().Add(-time.Second)) {
		t.Errorf("CrashLoop = %+v %t, want %d failures, failing, until in the future", cl, ok, seen)
	}

	// The next member becomes Active and stays a minute: the run ends, the back-off is gone.
	now := cl.Until
	clock.Set(now)
	a.Evaluate(context.Background())
	ids := st.since(seen)
	if len(ids) != 1 {
		t.Fatalf("%d members started once the back-off ended, want 1", len(ids))
	}
	a.HandleEvent(&model.MemberActivatedEvent{ClusterID: cluster, ClusterInstanceID: "php-1", MemberID: ids[0], PartitionID: "p1"})
	clock.Set(now.Add(CrashLoopWindow + DefaultMonitorInterval))
	a.Evaluate(context.Background())
	if cl, ok := a.CrashLoop(cluster); ok {
		t.Errorf("CrashLoop after a member stayed Active = %+v, want none", cl)
	}
}

func TestCrashBackoffDoublesToTheCap(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 0, 2: 5 * time.Second, 3: 10 * time.Second, 5: 40 * time.Second, 7: 160 * time.Second, 8: 5 * time.Minute, 50: 5 * time.Minute} {
		if got := crashBackoff(n); got != want {
			t.Errorf("crashBackoff(%d) = %v, want %v", n, got, want)
		}
	}
}
