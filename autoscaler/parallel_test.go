package autoscaler

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/model"
)

// gateStarter holds every start until release is closed and records how many were in flight
// at most.
type gateStarter struct {
	recStarter
	release chan struct{}

	mu             sync.Mutex
	inFlight, peak int
}

func (g *gateStarter) StartMember(ctx context.Context, req StartRequest) (model.Member, error) {
	g.mu.Lock()
	g.inFlight++
	g.peak = max(g.peak, g.inFlight)
	g.mu.Unlock()
	<-g.release
	g.mu.Lock()
	g.inFlight--
	g.mu.Unlock()
	return g.recStarter.StartMember(ctx, req)
}

// TestStartsRunInParallel: the starts of a min check are in flight StartParallelism at a time,
// not one after another (issue 17: each start waits for the controller's fsync, so 20 000
// members one at a time took 17 minutes), and every started member joins the pending list.
func TestStartsRunInParallel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &gateStarter{release: make(chan struct{})}
		a, err := New(Options{Policies: &staticPolicies{buildSet(t, scalingPolicies("round-robin", "enforce", ""))}, Starter: st,
			Clock: clock.NewManual(epoch), StartParallelism: 4})
		if err != nil {
			t.Fatal(err)
		}
		register(t, a, 6, 6) // two partitions of partitionMax 3: six starts
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.Evaluate(context.Background())
		}()
		synctest.Wait() // every goroutine of the round blocked: the starts it had in flight wait
		st.mu.Lock()
		peak := st.peak
		st.mu.Unlock()
		if peak != 4 {
			t.Errorf("%d starts in flight at once, want StartParallelism (4)", peak)
		}
		close(st.release)
		<-done
		if n := st.count(); n != 6 {
			t.Errorf("%d starts, want 6", n)
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if n := len(a.members); n != 6 {
			t.Errorf("%d members known after the round, want the 6 started", n)
		}
	})
}
