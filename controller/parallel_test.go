package controller_test

import (
	"context"
	"sync"
	"testing"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/testenv"
)

// gateDriver starts at once and holds every Terminate until release is closed, counting how many
// were in flight at most.
type gateDriver struct {
	stuckDriver
	release chan struct{}

	mu             sync.Mutex
	inFlight, peak int
}

func (d *gateDriver) Terminate(ctx context.Context, id string) error {
	d.mu.Lock()
	d.inFlight++
	d.peak = max(d.peak, d.inFlight)
	d.mu.Unlock()
	select {
	case <-d.release:
	case <-ctx.Done():
	}
	d.mu.Lock()
	d.inFlight--
	d.mu.Unlock()
	return d.stuckDriver.Terminate(ctx, id)
}

func (d *gateDriver) peakInFlight() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.peak
}

// TestUndeployTerminatesTerminateParallelismAtOnce: an undeploy has Options.TerminateParallelism
// terminations in flight, not a fixed 16 (issue 17: 20 000 mock members took 148 s to undeploy,
// 16 driver round trips at a time), and every member goes.
func TestUndeployTerminatesTerminateParallelismAtOnce(t *testing.T) {
	e := newEnv(t)
	drv := &gateDriver{release: make(chan struct{})}
	e.opts.Drivers["mock"] = drv
	e.opts.TerminateParallelism = 32
	c, _ := runController(t, e.opts)
	seed(t, c)
	ctx := context.Background()
	const n = 40
	for range n {
		if _, err := c.StartMember(ctx, startReq); err != nil {
			t.Fatal(err)
		}
	}
	removed := make(chan error, 1)
	go func() { removed <- c.RemoveApplicationClusters(ctx, phpSpec.AppID) }()
	testenv.Eventually(t, wait, "32 terminations in flight", func() bool { return drv.peakInFlight() >= 32 })
	close(drv.release)
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	if got := drv.peakInFlight(); got != 32 {
		t.Errorf("%d terminations in flight at most, want TerminateParallelism (32)", got)
	}
	if left := len(c.Members("")); left != 0 {
		t.Errorf("%d members left after the undeploy", left)
	}
}

var _ controller.Driver = (*gateDriver)(nil)
