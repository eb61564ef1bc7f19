package controller_test

import (
	"context"
	"testing"
	"time"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// tickerSpy is a clock that reports the period of every ticker made from it.
type tickerSpy struct {
	*fakeClock
	made chan time.Duration
}

func (s tickerSpy) NewTicker(d time.Duration) clock.Ticker {
	s.made <- d
	return s.fakeClock.NewTicker(d)
}

// TestTopologyThrottleWaitsOnlyTheRest: a request that comes within TopologyThrottle of the last
// answer is answered when the throttle interval since that answer ends, not a whole interval
// after the request (at 300 members a request during a deployment waited 1 s for this).
func TestTopologyThrottleWaitsOnlyTheRest(t *testing.T) {
	e := newEnv(t)
	spy := tickerSpy{fakeClock: e.clock, made: make(chan time.Duration, 16)}
	e.opts.Clock = spy
	c, _ := runController(t, e.opts)
	agent, _ := runClient(t, e.url)
	ctx := context.Background()
	ask := func() {
		if err := agent.PublishEvent(ctx, model.CompleteTopologyRequestEvent{}); err != nil {
			t.Fatal(err)
		}
	}
	published := func(n uint64) func() bool {
		return func() bool { return c.Stats().TopologyPublished >= n }
	}
	testenv.Eventually(t, wait, "the first complete topology", published(1))
	ask()
	testenv.Eventually(t, wait, "the answer to the first request", published(2))
	for len(spy.made) > 0 { // the controller's own tickers
		<-spy.made
	}

	e.clock.Advance(controller.DefaultTopologyThrottle - 100*time.Millisecond)
	ask()
	select {
	case d := <-spy.made:
		if d != 100*time.Millisecond {
			t.Errorf("the throttled request waits %v, want the 100ms left of the interval", d)
		}
	case <-time.After(wait):
		t.Fatal("the second request did not start the throttle")
	}
	e.clock.Advance(100 * time.Millisecond)
	testenv.Eventually(t, wait, "the answer to the throttled request", published(3))
}
