package app

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// TestTopologyAnswerOvertakesAFullOutbox: while other traffic keeps the platform's bus client's
// outbox full, the answer to a CompleteTopologyRequestEvent reaches an observer before the
// messages that were queued ahead of the request (issue 17: at 20 000 members an answer waited
// 2-5 s behind ~9 500 queued lifecycle and health messages; a request must be answered within
// 2 s). The flood is sequence-numbered and the broker keeps one publisher's order, so the
// sequence number the observer has seen when the topology arrives tells where the answer was
// queued, whatever the speed of the machine.
func TestTopologyAnswerOvertakesAFullOutbox(t *testing.T) {
	t.Parallel()
	s := start(t, testOptions(t))
	ctx := t.Context()
	const floodTopic = "strata-test/flood"

	observer, _ := connectWatcher(t, s, "flood-observer")
	var seen atomic.Int64 // the highest flood sequence number received, -1 before the first
	seen.Store(-1)
	if err := observer.Subscribe(ctx, floodTopic, func(_ string, b []byte) {
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err == nil && n > seen.Load() {
			seen.Store(n)
		}
	}); err != nil {
		t.Fatal(err)
	}
	var asked atomic.Bool
	var lastSeen atomic.Int64       // when the observer last saw a complete topology before asking (or subscribed)
	answered := make(chan int64, 1) // the flood's progress at the observer when an answer came
	if err := observer.Subscribe(ctx, model.TopicOf(&model.CompleteTopologyEvent{}), func(string, []byte) {
		if !asked.Load() {
			lastSeen.Store(time.Now().UnixNano())
			return
		}
		select {
		case answered <- seen.Load():
		default:
		}
	}); err != nil {
		t.Fatal(err)
	}
	lastSeen.Store(time.Now().UnixNano()) // any answer before the subscription came before now

	// The flood: the platform's own client publishes as fast as its outbox takes messages.
	client := s.app.Bus()
	var queued atomic.Int64 // flood messages queued so far
	fctx, stopFlood := context.WithCancel(ctx)
	flooding := make(chan struct{})
	go func() {
		defer close(flooding)
		for i := int64(0); fctx.Err() == nil; i++ {
			if err := client.Publish(fctx, floodTopic, []byte(strconv.FormatInt(i, 10)), 1); err != nil {
				return
			}
			queued.Store(i + 1)
		}
	}()
	t.Cleanup(func() { stopFlood(); <-flooding })
	testenv.Eventually(t, 30*time.Second, "the flood to fill the outbox", func() bool {
		return seen.Load() >= 0 && client.Stats().Outbox >= bus.DefaultOutboxLimit-sendWindowSlack
	})

	// The controller answers requests at most once per TopologyThrottle, so a request right after
	// the answers to the platform's own start-up requests (the autoscaler's, the load balancer's)
	// waits for the rest of it, and meanwhile the outbox empties: the request comes after that.
	testenv.Eventually(t, 30*time.Second, "a topology throttle since the last complete topology", func() bool {
		return time.Since(time.Unix(0, lastSeen.Load())) > controller.DefaultTopologyThrottle+100*time.Millisecond &&
			client.Stats().Outbox >= bus.DefaultOutboxLimit-sendWindowSlack
	})
	before := queued.Load() // every message up to before-1 was queued ahead of the request
	asked.Store(true)
	if err := observer.PublishEvent(ctx, &model.CompleteTopologyRequestEvent{}); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-answered:
		if got >= before-1 {
			t.Errorf("the complete topology arrived after flood message %d, and %d messages were queued before the request: it waited behind the outbox",
				got, before)
		}
		t.Logf("the answer arrived after flood message %d of the %d queued before the request", got, before)
	case <-time.After(time.Minute):
		t.Fatal("no CompleteTopologyEvent within a minute of a request")
	}
}

// sendWindowSlack is how far below its limit a full outbox may be seen: the sender removes
// acknowledged messages in bursts.
const sendWindowSlack = 256
