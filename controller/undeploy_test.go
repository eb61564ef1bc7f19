package controller_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
)

// countClass counts the events of a class.
func countClass(evs []model.Event, class string) int {
	n := 0
	for _, e := range evs {
		if e.EventClass() == class {
			n++
		}
	}
	return n
}

// TestRemoveApplicationClustersAsStratos: an undeploy asks each cluster instance to clean up
// once (InstanceCleanupClusterEvent after ClusterInstanceTerminatingEvent), not each member
// again and again; the instance is Terminated after its last member, and the clusters are
// removed after that.
func TestRemoveApplicationClustersAsStratos(t *testing.T) {
	e := newEnv(t)
	c, _ := runController(t, e.opts)
	seed(t, c)
	const n = 12
	for range n {
		e.startActive(t, c)
	}
	if err := c.RemoveApplicationClusters(context.Background(), phpSpec.AppID); err != nil {
		t.Fatal(err)
	}
	evs := e.watch.until(t, "ApplicationClustersRemovedEvent", func(evs []model.Event) bool {
		return countClass(evs, "topology.ApplicationClustersRemovedEvent") > 0
	})
	if got := countClass(evs, "instance.notifier.InstanceCleanupMemberEvent"); got != 0 {
		t.Errorf("%d InstanceCleanupMemberEvents during an undeploy, want none (one InstanceCleanupClusterEvent per cluster instance)", got)
	}
	if got := countClass(evs, "topology.MemberTerminatedEvent"); got != n {
		t.Errorf("%d MemberTerminatedEvents, want %d", got, n)
	}
	// The cluster-level events in order, with the members' terminations folded into one line.
	var got []string
	for _, ev := range evs {
		switch cl := ev.EventClass(); cl {
		case "topology.ClusterInstanceTerminatingEvent", "instance.notifier.InstanceCleanupClusterEvent",
			"topology.ClusterInstanceTerminatedEvent", "topology.ApplicationClustersRemovedEvent":
			got = append(got, cl)
		case "topology.MemberTerminatedEvent":
			if len(got) == 0 || got[len(got)-1] != "members terminated" {
				got = append(got, "members terminated")
			}
		}
	}
	want := []string{"topology.ClusterInstanceTerminatingEvent", "instance.notifier.InstanceCleanupClusterEvent",
		"members terminated", "topology.ClusterInstanceTerminatedEvent", "topology.ApplicationClustersRemovedEvent"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("undeploy sequence (-want +got):\n%s", d)
	}
}

// advanceUntil moves the clock on a minute at a time until done answers (the graceful timeout
// passes after 30 of them) and returns its answer.
func advanceUntil(t *testing.T, clk *fakeClock, done <-chan error) error {
	t.Helper()
	deadline := time.After(wait)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-deadline:
			t.Fatal("RemoveApplicationClusters did not return as the clock passed the graceful timeout")
		case <-tick.C:
			clk.Advance(time.Minute)
		}
	}
}

// removal starts RemoveApplicationClusters of the php cluster's application with one Active
// member whose agent does not answer, and returns the call's result channel once the removal
// has begun (the cluster instance is Terminating).
func removal(t *testing.T, e *env, c *controller.Controller) (model.Member, chan error) {
	t.Helper()
	m := e.startActive(t, c)
	if err := e.mock.Kill(m.MemberID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.RemoveApplicationClusters(context.Background(), phpSpec.AppID) }()
	e.watch.until(t, "ClusterInstanceTerminatingEvent", func(evs []model.Event) bool {
		return countClass(evs, "topology.ClusterInstanceTerminatingEvent") > 0
	})
	return m, done
}

// TestNoStartWhileRemoving: once an undeploy has begun, a start in its clusters is refused
// (ErrRemoving, no MemberCreatedEvent), and the member left is terminated once its graceful
// timeout passes.
func TestNoStartWhileRemoving(t *testing.T) {
	e := newEnv(t)
	c, _ := runController(t, e.opts)
	seed(t, c)
	m, done := removal(t, e, c)
	if _, err := c.StartMember(context.Background(), startReq); !errors.Is(err, controller.ErrRemoving) {
		t.Errorf("StartMember while removing = %v, want ErrRemoving", err)
	}
	if err := advanceUntil(t, e.clock, done); err != nil {
		t.Fatalf("RemoveApplicationClusters = %v", err)
	}
	evs := e.watch.until(t, "the member terminated", func(evs []model.Event) bool {
		return hasClass(evs, m.MemberID, "topology.MemberTerminatedEvent")
	})
	if got := countClass(evs, "topology.MemberCreatedEvent"); got != 1 {
		t.Errorf("%d MemberCreatedEvents, want 1 (no member created once the undeploy began)", got)
	}
}

// TestRemovalEndsWithRun: a removal waiting for members returns ErrClosed when the controller
// stops (shutdown does not wait for terminations), and after a restart starts in the cluster
// are still refused and a new removal finishes it.
func TestRemovalEndsWithRun(t *testing.T) {
	e := newEnv(t)
	c, stop := runController(t, e.opts)
	seed(t, c)
	m, done := removal(t, e, c)
	stop()
	select {
	case err := <-done:
		if !errors.Is(err, controller.ErrClosed) {
			t.Errorf("RemoveApplicationClusters after Run returned = %v, want ErrClosed", err)
		}
	case <-time.After(wait):
		t.Fatal("RemoveApplicationClusters still waits after the controller stopped")
	}

	c2, _ := runController(t, e.opts)
	if _, err := c2.StartMember(context.Background(), startReq); !errors.Is(err, controller.ErrRemoving) {
		t.Errorf("StartMember after a restart = %v, want ErrRemoving", err)
	}
	done2 := make(chan error, 1)
	go func() { done2 <- c2.RemoveApplicationClusters(context.Background(), phpSpec.AppID) }()
	if err := advanceUntil(t, e.clock, done2); err != nil {
		t.Fatalf("RemoveApplicationClusters after a restart = %v", err)
	}
	if _, err := c2.Member(m.MemberID); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("member %s after the removal: %v, want ErrNotFound", m.MemberID, err)
	}
}

// TestUndeployAsksAgainOnlyWhenStalled: during an undeploy the clean-up is asked again after
// CleanupInterval only of members that have not answered: not of a member that went
// InMaintenance meanwhile (its MemberMaintenanceModeEvent is repeated an interval after it was
// sent, not an interval after the undeploy began), and not of the instance while its members
// are still answering. At 100 000 members the answers took longer than the interval, and
// every member was asked twice (issue 17).
func TestUndeployAsksAgainOnlyWhenStalled(t *testing.T) {
	e := newEnv(t)
	e.opts.CleanupInterval = 30 * time.Second
	c, _ := runController(t, e.opts)
	seed(t, c)
	a, b := e.startActive(t, c), e.startActive(t, c)
	for _, m := range []model.Member{a, b} {
		if err := e.mock.Kill(m.MemberID); err != nil { // the test answers for them
			t.Fatal(err)
		}
	}
	agent, _ := runClient(t, e.url)
	answer := func(ev model.Event) {
		t.Helper()
		if err := agent.PublishEvent(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	maintenance := func(m model.Member) *model.InstanceMaintenanceModeEvent {
		return &model.InstanceMaintenanceModeEvent{ServiceName: "php", ClusterID: m.ClusterID, MemberID: m.MemberID, ClusterInstanceID: m.ClusterInstanceID}
	}
	count := func(evs []model.Event, memberID, class string) int {
		n := 0
		for _, cl := range ofMember(evs, memberID) {
			if cl == class {
				n++
			}
		}
		return n
	}
	const cleanup, maint = "instance.notifier.InstanceCleanupClusterEvent", "topology.MemberMaintenanceModeEvent"
	done := make(chan error, 1)
	go func() { done <- c.RemoveApplicationClusters(context.Background(), phpSpec.AppID) }()
	e.watch.until(t, "the clean-up request", func(evs []model.Event) bool { return countClass(evs, cleanup) == 1 })

	e.clock.Advance(25 * time.Second)
	answer(maintenance(a))
	e.watch.until(t, "a in maintenance", func(evs []model.Event) bool { return count(evs, a.MemberID, maint) == 1 })
	// An interval after the request: a answered 5 s ago, b is still Active.
	e.clock.Advance(10 * time.Second)
	answer(maintenance(b))
	evs := e.watch.until(t, "b in maintenance", func(evs []model.Event) bool { return count(evs, b.MemberID, maint) == 1 })
	if n := countClass(evs, cleanup); n != 1 {
		t.Errorf("%d InstanceCleanupClusterEvents while the instance's members answered, want 1", n)
	}
	if n := count(evs, a.MemberID, maint); n != 1 {
		t.Errorf("a was sent %d MemberMaintenanceModeEvents 10 s after its first, want 1", n)
	}
	// An interval after a's, but only 25 s after b answered: nobody is asked again.
	e.clock.Advance(25 * time.Second)
	answer(&model.InstanceReadyToShutdownEvent{ServiceName: "php", ClusterID: b.ClusterID, MemberID: b.MemberID, ClusterInstanceID: b.ClusterInstanceID})
	evs = e.watch.until(t, "b terminated", func(evs []model.Event) bool {
		return hasClass(evs, b.MemberID, "topology.MemberTerminatedEvent")
	})
	if n := count(evs, a.MemberID, maint); n != 1 {
		t.Errorf("a was sent %d MemberMaintenanceModeEvents while b answered, want 1", n)
	}
	// An interval after the instance's last answer (b's): a has not answered
	// MemberMaintenanceModeEvent, it is sent again.
	e.clock.Advance(30 * time.Second)
	e.watch.until(t, "a asked again", func(evs []model.Event) bool { return count(evs, a.MemberID, maint) >= 2 })
	answer(&model.InstanceReadyToShutdownEvent{ServiceName: "php", ClusterID: a.ClusterID, MemberID: a.MemberID, ClusterInstanceID: a.ClusterInstanceID})
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RemoveApplicationClusters = %v", err)
		}
	case <-time.After(wait):
		t.Fatal("RemoveApplicationClusters did not return once every member was ready to shut down")
	}
}

// TestRemoveBeforeRun: a removal asked for before the controller's Run has started waits for it
// and then succeeds. The platform's manager resumes an interrupted undeploy as the platform
// starts, concurrently with the controller's Run; it failed with ErrNotRunning when it came
// first, which left the application Undeploying until the next restart
// (TestShutdownDuringUndeployResumes failed that way in 1 of 12 runs).
func TestRemoveBeforeRun(t *testing.T) {
	e := newEnv(t)
	c, stop := runController(t, e.opts)
	seed(t, c)
	e.startActive(t, c)
	stop()

	o := e.opts
	o.Logger = testLogger(t)
	again, err := controller.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { again.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	removed := make(chan error, 1)
	go func() { removed <- again.RemoveApplicationClusters(ctx, phpSpec.AppID) }()
	select {
	case err := <-removed:
		t.Fatalf("the removal returned %v before Run started, want it to wait", err)
	case <-time.After(100 * time.Millisecond):
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- again.Run(runCtx) }()
	defer func() { stopRun(); <-done }()
	if err := <-removed; err != nil {
		t.Errorf("the removal asked for before Run: %v, want it done once Run started", err)
	}
}
