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
// at most. It says each member is recorded (StartRequest.Recorded) before it waits, unless
// silent, as the controller does before its durable write.
type gateStarter struct {
	recStarter
	release chan struct{}
	silent  bool

	mu             sync.Mutex
	inFlight, peak int
}

func (g *gateStarter) StartMember(ctx context.Context, req StartRequest) (model.Member, error) {
	g.mu.Lock()
	g.inFlight++
	g.peak = max(g.peak, g.inFlight)
	g.mu.Unlock()
	if req.Recorded != nil && !g.silent {
		req.Recorded()
	}
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
	// A starter that never says a member is recorded gets its starts one after another: the
	// round keeps the records in the order it decided them.
	for _, c := range []struct {
		silent bool
		want   int
	}{{false, 4}, {true, 1}} {
		testStartsInFlight(t, c.silent, c.want)
	}
}

func testStartsInFlight(t *testing.T, silent bool, want int) {
	synctest.Test(t, func(t *testing.T) {
		st := &gateStarter{release: make(chan struct{}), silent: silent}
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
		if peak != want {
			t.Errorf("%d starts in flight at once (silent starter %t), want %d", peak, silent, want)
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
