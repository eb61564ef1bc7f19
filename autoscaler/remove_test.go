package autoscaler

import (
	"context"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/model"
)

// blockingStarter holds its first start until release is closed and counts every start.
type blockingStarter struct {
	recStarter
	entered chan struct{}
	release chan struct{}
}

func (b *blockingStarter) StartMember(ctx context.Context, req StartRequest) (model.Member, error) {
	if b.count() == 0 {
		close(b.entered)
		<-b.release
	}
	return b.recStarter.StartMember(ctx, req)
}

// blockedRound starts a round that decides 50 starts (a min check of a large cluster) and
// returns once its first start is under way, held by st until st.release is closed; done is
// closed when the round ends.
func blockedRound(ctx context.Context, t *testing.T) (a *Autoscaler, st *blockingStarter, done <-chan struct{}) {
	t.Helper()
	st = &blockingStarter{entered: make(chan struct{}), release: make(chan struct{})}
	a, err := New(Options{Policies: &staticPolicies{buildSet(t, scalingPolicies("round-robin", "enforce", ""))}, Starter: st,
		Clock: clock.NewManual(epoch)})
	if err != nil {
		t.Fatal(err)
	}
	register(t, a, 50, 60)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		a.Evaluate(ctx)
	}()
	select {
	case <-st.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the round made no start")
	}
	return a, st, ended
}

// TestRemoveClusterCancelsQueuedStarts: a round that decided many starts (a min check of a
// large cluster) stops starting members of a cluster removed meanwhile (an undeploy): the one
// start under way completes, none of the queued ones is made.
func TestRemoveClusterCancelsQueuedStarts(t *testing.T) {
	a, st, done := blockedRound(context.Background(), t)
	a.RemoveCluster("app.php.php.domain")
	close(st.release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the round did not end")
	}
	if n := st.count(); n != 1 {
		t.Errorf("%d starts after the cluster was removed during a round of 50, want 1 (the one under way)", n)
	}
}

// TestRoundStopsWithContext: a round whose context ends (shutdown) makes no further start.
func TestRoundStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	_, st, done := blockedRound(ctx, t)
	cancel()
	close(st.release)
	<-done
	if n := st.count(); n != 1 {
		t.Errorf("%d starts after the round's context ended, want 1 (the one under way)", n)
	}
}
