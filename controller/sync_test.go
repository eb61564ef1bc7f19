package controller_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// TestPeriodicTopologyOnlyWhenNew: with the broker's subscription count
// (Options.Broker), the periodic CompleteTopologyEvent goes out only when the
// topology changed or someone subscribed since the last one; otherwise it is skipped, counted, and
// the bus does not carry it (issue 17: ~90 MB a minute at 100 000 members that told nobody
// anything). A request is still answered.
func TestPeriodicTopologyOnlyWhenNew(t *testing.T) {
	e := newEnv(t)
	var broker fakeSubscribers
	e.opts.Broker = &broker
	subs, nobody := &broker.granted, &broker.nobody
	c, _ := runController(t, e.opts)
	seed(t, c)
	sub, _ := runClient(t, e.url)
	bodies := make(chan int, 64)
	if err := sub.Subscribe(context.Background(), "topology/CompleteTopologyEvent", func(_ string, b []byte) { bodies <- len(b) }); err != nil {
		t.Fatal(err)
	}
	// ask publishes a request and waits for a complete topology published in answer.
	ask := func() {
		t.Helper()
		before := c.Stats().TopologyPublished
		if err := sub.PublishEvent(context.Background(), model.CompleteTopologyRequestEvent{}); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, wait, "a CompleteTopologyEvent in answer to a request", func() bool {
			return c.Stats().TopologyPublished > before
		})
		for {
			select {
			case <-bodies:
				return
			case <-time.After(wait):
				t.Fatal("no CompleteTopologyEvent on the bus in answer to a request")
			}
		}
	}
	e.startActive(t, c)
	ask()
	sync := func(want string) {
		t.Helper()
		before := c.Stats()
		e.clock.Advance(controller.DefaultSyncInterval)
		testenv.Eventually(t, wait, "the periodic sync handled", func() bool {
			s := c.Stats()
			return s.TopologyPublished+s.TopologySkipped > before.TopologyPublished+before.TopologySkipped
		})
		got := "published"
		if c.Stats().TopologySkipped > before.TopologySkipped {
			got = "skipped"
		}
		if got != want {
			t.Errorf("periodic sync %s, want %s", got, want)
		}
	}
	sync("skipped") // nothing since the answer
	sync("skipped")
	subs.Add(1) // someone subscribed
	sync("published")
	sync("skipped")
	e.startActive(t, c) // a change
	sync("published")
	sync("skipped")
	for len(bodies) > 0 {
		<-bodies
	}
	ask()
	// Nobody subscribed (the platform's components follow the events and ask when they need
	// one): a change is not published.
	nobody.Store(true)
	e.startActive(t, c)
	sync("skipped")
	nobody.Store(false)
	sync("published")
}

// fakeSubscribers is a broker's view of the CompleteTopologyEvent's subscribers, set by the test.
type fakeSubscribers struct {
	granted atomic.Uint64
	nobody  atomic.Bool
}

func (f *fakeSubscribers) Subscriptions(string) uint64 { return f.granted.Load() }
func (f *fakeSubscribers) Subscribed(string) bool      { return !f.nobody.Load() }
