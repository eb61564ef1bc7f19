package autoscaler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// TestUndeployAsksEachMemberOncePerInterval undeploys a cluster instance of n Active members
// whose agents answer one at a time, as a large undeploy goes: each answer makes the instance
// due Settle later, so a round runs every Settle until the last member is gone. A round must not
// ask every member that has not answered yet again (InstanceCleanupMemberEvent) nor terminate
// every obsolete member again: that is n requests per Settle, n² over the undeploy, and it was
// what made an undeploy of 100 000 members take minutes with the bus outbox full. Each member is
// asked once per MonitorInterval, as Stratos' 90 s monitor does.
func TestUndeployAsksEachMemberOncePerInterval(t *testing.T) {
	const n = 200
	s := newSim(t, buildSet(t, strings.ReplaceAll(scalingPolicies("round-robin", "enforce", ""), "partitionMax: 3", "partitionMax: 1000")), nil)
	register(t, s.a, 0, 2*n)
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("m%03d", i)
		s.a.HandleEvent(&model.MemberActivatedEvent{ClusterID: "app.php.php.domain", ClusterInstanceID: "php-1",
			NetworkPartitionID: "np1", PartitionID: []string{"p1", "p2"}[i%2], MemberID: ids[i]})
	}
	s.a.HandleEvent(&model.ClusterInstanceTerminatingEvent{ServiceName: "php", ClusterID: "app.php.php.domain", AppID: "app", InstanceID: "php-1"})
	now := s.clock.Now()
	terminated := map[string]bool{}
	var gone []timed // MemberTerminatedEvent 2 s after the first terminate call
	step := func() {
		now = now.Add(250 * time.Millisecond)
		s.clock.Set(now)
		for len(gone) > 0 && !gone[0].at.After(now) {
			s.a.HandleEvent(gone[0].e)
			gone = gone[1:]
		}
		s.a.Evaluate(context.Background())
		s.mu.Lock()
		for _, id := range s.terms {
			if !terminated[id] {
				terminated[id] = true
				gone = append(gone, timed{now.Add(2 * time.Second), &model.MemberTerminatedEvent{ClusterID: "app.php.php.domain",
					ClusterInstanceID: "php-1", MemberID: id}})
			}
		}
		s.mu.Unlock()
	}
	step()
	// The agents answer one every 250 ms: the undeploy takes n/4 s, less than a MonitorInterval.
	for _, id := range ids {
		s.a.HandleEvent(&model.MemberReadyToShutdownEvent{ClusterID: "app.php.php.domain", ClusterInstanceID: "php-1", MemberID: id})
		step()
	}
	for range 20 { // the last terminations
		step()
	}
	if got := s.a.Stats().Members; got != 0 {
		t.Fatalf("the autoscaler still tracks %d members after the undeploy", got)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cleanups, instanceCleanups := 0, 0
	for _, e := range s.events {
		switch e.(type) {
		case *model.InstanceCleanupMemberEvent:
			cleanups++
		case *model.InstanceCleanupClusterEvent:
			instanceCleanups++
		}
	}
	if cleanups != n {
		t.Errorf("%d InstanceCleanupMemberEvents for %d members in %v, want one each", cleanups, n, time.Duration(n)*250*time.Millisecond)
	}
	if instanceCleanups != 1 {
		t.Errorf("%d InstanceCleanupClusterEvents, want 1", instanceCleanups)
	}
	if len(s.terms) != n || len(terminated) != n {
		t.Errorf("%d terminate calls for %d members (%d terminated), want one each", len(s.terms), n, len(terminated))
	}
}
