package controller_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
)

// stuckDriver starts instances whose agent never answers.
type stuckDriver struct {
	mu    sync.Mutex
	live  map[string]bool
	calls int
}

func (d *stuckDriver) Start(_ context.Context, in controller.Instance) (controller.Started, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.live == nil {
		d.live = map[string]bool{}
	}
	d.live[in.MemberID] = true
	d.calls++
	return controller.Started{InstanceID: in.MemberID, MemberID: in.MemberID, PrivateIPs: []string{"192.0.2.1"}}, nil
}

func (d *stuckDriver) Terminate(_ context.Context, id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.live[id] {
		return controller.ErrInstanceNotFound
	}
	delete(d.live, id)
	return nil
}

func (d *stuckDriver) List(context.Context) ([]controller.Started, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []controller.Started
	for id := range d.live {
		out = append(out, controller.Started{InstanceID: id, MemberID: id})
	}
	return out, nil
}

func TestGracefulTermination(t *testing.T) {
	e := newEnv(t)
	c, _ := runController(t, e.opts)
	seed(t, c)
	m := e.startActive(t, c)
	if err := c.TerminateMember(context.Background(), m.MemberID, false); err != nil {
		t.Fatal(err)
	}
	evs := e.watch.until(t, "MemberTerminated", func(evs []model.Event) bool {
		return hasClass(evs, m.MemberID, "topology.MemberTerminatedEvent")
	})
	got := ofMember(evs, m.MemberID)
	// The controller's events in order, and the mock's in order (see TestMemberLifecycleOnMock).
	want := []string{"instance.notifier.InstanceCleanupMemberEvent", "topology.MemberMaintenanceModeEvent",
		"topology.MemberReadyToShutdownEvent", "topology.MemberTerminatedEvent"}
	if d := cmp.Diff(want, from(got, "topology.MemberMaintenance", "topology.MemberReady", "topology.MemberTerminated", "instance.notifier.")); d != "" {
		t.Errorf("controller's graceful termination sequence (-want +got):\n%s", d)
	}
	want = []string{"instance.status.InstanceStartedEvent", "instance.status.InstanceActivatedEvent",
		"instance.status.InstanceMaintenanceModeEvent", "instance.status.InstanceReadyToShutdownEvent"}
	if d := cmp.Diff(want, from(got, "instance.status.")); d != "" {
		t.Errorf("mock's graceful termination sequence (-want +got):\n%s", d)
	}
	if _, err := c.Member(m.MemberID); !errors.Is(err, controller.ErrNotFound) {
		t.Errorf("member still known: %v", err)
	}
	if l, _ := e.mock.List(context.Background()); len(l) != 0 {
		t.Errorf("mock still runs %d instances", len(l))
	}
	if d := cmp.Diff([]string{"Created", "Initialized", "Starting", "Active", "In_Maintenance", "ReadyToShutDown", "Terminated"},
		waitStatuses(t, e.rec, m.MemberID, 7)); d != "" {
		t.Errorf("lifecycle records (-want +got):\n%s", d)
	}
}

func waitStatuses(t *testing.T, r *recorder, memberID string, n int) []string {
	return r.until(memberID, func(s []string) bool { return len(s) >= n })
}

func TestForcedTerminationAndTerminateAll(t *testing.T) {
	e := newEnv(t)
	c, _ := runController(t, e.opts)
	seed(t, c)
	a := e.startActive(t, c)
	if err := c.TerminateMember(context.Background(), a.MemberID, true); err != nil {
		t.Fatal(err)
	}
	got := ofMember(e.watch.until(t, "MemberTerminated", func(evs []model.Event) bool {
		return hasClass(evs, a.MemberID, "topology.MemberTerminatedEvent")
	}), a.MemberID)
	if slices.Contains(got, "instance.notifier.InstanceCleanupMemberEvent") {
		t.Errorf("forced termination sent a cleanup event: %v", got)
	}
	var ids []string
	for range 3 {
		ids = append(ids, e.startActive(t, c).MemberID)
	}
	if err := c.TerminateAll(context.Background(), clusterID); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Members(clusterID)); n != 0 {
		t.Errorf("%d members left", n)
	}
	e.watch.until(t, "MemberTerminated for all", func(evs []model.Event) bool {
		for _, id := range ids {
			if !hasClass(evs, id, "topology.MemberTerminatedEvent") {
				return false
			}
		}
		return true
	})
	if err := c.RemoveCluster(context.Background(), clusterID); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveCartridge(context.Background(), "php"); err != nil {
		t.Fatal(err)
	}
}

func TestGracefulTimeout(t *testing.T) {
	e := newEnv(t)
	drv := &stuckDriver{}
	e.opts.Drivers["mock"] = drv
	e.opts.CleanupInterval = 30 * time.Second
	e.opts.GracefulTimeout = 5 * time.Minute
	c, _ := runController(t, e.opts)
	seed(t, c)
	m, err := c.StartMember(context.Background(), startReq)
	if err != nil {
		t.Fatal(err)
	}
	agent, _ := runClient(t, e.url)
	for _, ev := range []model.Event{
		&model.InstanceStartedEvent{ServiceName: "php", ClusterID: clusterID, MemberID: m.MemberID},
		&model.InstanceActivatedEvent{ServiceName: "php", ClusterID: clusterID, MemberID: m.MemberID},
	} {
		if err := agent.PublishEvent(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	e.watch.until(t, "MemberActivated", func(evs []model.Event) bool {
		return hasClass(evs, m.MemberID, "topology.MemberActivatedEvent")
	})
	if err := c.TerminateMember(context.Background(), m.MemberID, false); err != nil {
		t.Fatal(err)
	}
	cleanups := func(n int) func([]model.Event) bool {
		return func(evs []model.Event) bool {
			k := 0
			for _, c := range ofMember(evs, m.MemberID) {
				if c == "instance.notifier.InstanceCleanupMemberEvent" {
					k++
				}
			}
			return k >= n
		}
	}
	e.watch.until(t, "first cleanup", cleanups(1))
	// The agent does not answer: the request is repeated every CleanupInterval...
	e.clock.Advance(30 * time.Second)
	e.watch.until(t, "second cleanup", cleanups(2))
	// ...and after GracefulTimeout the member is terminated forcibly.
	e.clock.Advance(5 * time.Minute)
	e.watch.until(t, "MemberTerminated", func(evs []model.Event) bool {
		return hasClass(evs, m.MemberID, "topology.MemberTerminatedEvent")
	})
	if l, _ := drv.List(context.Background()); len(l) != 0 {
		t.Errorf("instances left: %+v", l)
	}
}
