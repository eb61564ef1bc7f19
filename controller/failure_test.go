package controller_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// failingDriver fails Start with err while it is set, and reports exits through Watch like a
// driver whose instance process dies.
type failingDriver struct {
	stuckDriver
	mu     sync.Mutex
	err    error
	report func(controller.Exit)
	// exitInStart, when set, is the reason of an exit Start reports before it returns, as
	// the local driver does when a server command exits at once on a loaded host.
	exitInStart string
}

func (d *failingDriver) Start(ctx context.Context, in controller.Instance) (controller.Started, error) {
	d.mu.Lock()
	err, exit := d.err, d.exitInStart
	d.mu.Unlock()
	if err != nil {
		return controller.Started{}, err
	}
	if exit != "" {
		d.exit(in.MemberID, exit)
	}
	return d.stuckDriver.Start(ctx, in)
}

func (d *failingDriver) Watch(ctx context.Context, report func(controller.Exit)) {
	d.mu.Lock()
	d.report = report
	d.mu.Unlock()
	<-ctx.Done()
}

func (d *failingDriver) exit(memberID, reason string) {
	d.mu.Lock()
	report := d.report
	d.mu.Unlock()
	report(controller.Exit{InstanceID: memberID, MemberID: memberID, Reason: reason})
}

// A start that fails, for any reason, stays visible on its cluster with the reason until a
// member of the cluster becomes Active: the manager's runtime view shows it.
func TestStartFailureIsKept(t *testing.T) {
	e := newEnv(t)
	drv := &failingDriver{}
	e.opts.Drivers["mock"] = drv
	c, _ := runController(t, e.opts)
	seed(t, c)
	ctx := context.Background()
	if _, ok := c.StartFailure(clusterID); ok {
		t.Fatal("a start failure before any start")
	}

	bad := startReq
	bad.PartitionID = "p-x"
	if _, err := c.StartMember(ctx, bad); err == nil {
		t.Fatal("start in an unknown partition succeeded")
	}
	f, ok := c.StartFailure(clusterID)
	if !ok || !strings.Contains(f.Reason, `partition "p-x" does not exist`) || f.PartitionID != "p-x" ||
		f.ClusterInstanceID != "app1-1" || f.Failures != 1 || !f.Time.Equal(e.clock.Now()) || f.MemberID != "" {
		t.Errorf("after a bad partition: %+v %t", f, ok)
	}

	drv.mu.Lock()
	drv.err = errors.New("image ami-0000 not found")
	drv.mu.Unlock()
	if _, err := c.StartMember(ctx, startReq); err == nil {
		t.Fatal("start with a failing driver succeeded")
	}
	f, _ = c.StartFailure(clusterID)
	if !strings.Contains(f.Reason, "driver mock: image ami-0000 not found") || f.Failures != 2 || f.MemberID == "" {
		t.Errorf("after a driver error: %+v", f)
	}

	// An instance that ends before its member is Active is a failed start too.
	drv.mu.Lock()
	drv.err = nil
	drv.mu.Unlock()
	m, err := c.StartMember(ctx, startReq)
	if err != nil {
		t.Fatal(err)
	}
	drv.exit(m.MemberID, "server: exit status 127: sh: 1: exec: /no/such/image: not found")
	e.watch.until(t, "MemberTerminated", func(evs []model.Event) bool {
		return hasClass(evs, m.MemberID, "topology.MemberTerminatedEvent")
	})
	f, _ = c.StartFailure(clusterID)
	if want := "member " + m.MemberID + " ended before it became active: server: exit status 127"; !strings.Contains(f.Reason, want) ||
		f.MemberID != m.MemberID || f.Failures != 3 {
		t.Errorf("after an early exit: %+v, want %q", f, want)
	}

	// A member that becomes Active clears it.
	m, err = c.StartMember(ctx, startReq)
	if err != nil {
		t.Fatal(err)
	}
	agentBus, _ := runClient(t, e.url)
	for _, ev := range []model.Event{
		&model.InstanceStartedEvent{ServiceName: "php", ClusterID: clusterID, ClusterInstanceID: "app1-1", MemberID: m.MemberID,
			NetworkPartitionID: "network-partition-1", PartitionID: "partition-1"},
		&model.InstanceActivatedEvent{ServiceName: "php", ClusterID: clusterID, ClusterInstanceID: "app1-1", MemberID: m.MemberID,
			NetworkPartitionID: "network-partition-1", PartitionID: "partition-1"},
	} {
		if err := agentBus.PublishEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	e.watch.until(t, "MemberActivated", func(evs []model.Event) bool {
		return hasClass(evs, m.MemberID, "topology.MemberActivatedEvent")
	})
	if f, ok := c.StartFailure(clusterID); ok {
		t.Errorf("start failure after a member became Active: %+v", f)
	}

	// An Active member that ends later is no failed start.
	drv.exit(m.MemberID, "killed")
	e.watch.until(t, "MemberTerminated", func(evs []model.Event) bool {
		return hasClass(evs, m.MemberID, "topology.MemberTerminatedEvent")
	})
	if f, ok := c.StartFailure(clusterID); ok {
		t.Errorf("start failure after an Active member ended: %+v", f)
	}
}

// An instance that ends while the driver's Start is still in flight is not lost: the member is
// terminated once Start returns, and the failure is kept (before, the exit was dropped and the
// member stayed Initialized for good).
func TestExitDuringStart(t *testing.T) {
	e := newEnv(t)
	drv := &failingDriver{exitInStart: "server: exit status 127"}
	e.opts.Drivers["mock"] = drv
	c, _ := runController(t, e.opts)
	seed(t, c)
	testenv.Eventually(t, 5*time.Second, "the driver watched", func() bool {
		drv.mu.Lock()
		defer drv.mu.Unlock()
		return drv.report != nil
	})
	m, err := c.StartMember(context.Background(), startReq)
	if err != nil {
		t.Fatal(err)
	}
	e.watch.until(t, "MemberTerminated", func(evs []model.Event) bool {
		return hasClass(evs, m.MemberID, "topology.MemberTerminatedEvent")
	})
	if f, ok := c.StartFailure(clusterID); !ok || !strings.Contains(f.Reason, "ended before it became active: server: exit status 127") {
		t.Errorf("start failure %+v %t, want the early exit", f, ok)
	}
}
