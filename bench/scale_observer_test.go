package bench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/app"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// observer is a separate bus connection that counts activations, and a topology agent process
// that times complete topologies, as an agent outside the platform would see them.
type observer struct {
	client        *bus.Client
	activated     atomic.Int64
	clusterActive atomic.Int64 // ClusterInstanceActivatedEvents
	mu            sync.Mutex   // one complete topology asked for at a time
	agent         *topologyAgent

	lifeMu sync.Mutex
	life   map[string]*lifecycle // by member id
	ended  int                   // members seen terminated
	more   chan struct{}         // capacity 1: ended grew

	app     *app.App
	reached atomic.Int64 // the last request reached the controller after this many ns (0: unknown)
	encoded atomic.Int64 // ns the controller spent encoding complete topologies during the last request
}

// trace describes the last topology request: when the controller took it, how long it spent
// encoding the answer, and the platform's bus client's outbox and consumer queues (depth, times
// full) at the answer.
func (o *observer) trace(a *app.App) string {
	st := a.Bus().Stats()
	return fmt.Sprintf("request reached the controller after %v, which encoded for %v; outbox %d, superseded %d; consumer queues: %s",
		time.Duration(o.reached.Load()), time.Duration(o.encoded.Load()), st.Outbox, st.Superseded, queues(st))
}

// queues is each consumer queue's depth and how often it was full, by name.
func queues(st bus.Stats) string {
	var qs []string
	for name, q := range st.Queues {
		qs = append(qs, fmt.Sprintf("%s %d/%d full", name, q.Depth, q.Full))
	}
	slices.Sort(qs)
	return strings.Join(qs, ", ")
}

// lifecycle is what the observer saw of one member.
type lifecycle struct{ created, activated, terminated int }

func newObserver(t *testing.T, ctx context.Context, a *app.App) *observer {
	user, password := a.BusCredential()
	c, err := bus.New(bus.Options{URLs: a.Addrs().Brokers, Username: user, Password: password, ClientID: "scale-observer"})
	if err != nil {
		t.Fatal(err)
	}
	o := &observer{client: c, life: map[string]*lifecycle{}, more: make(chan struct{}, 1), app: a,
		agent: startTopologyAgent(t, a.Addrs().Brokers[0], user, password)}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	subs := map[string]bus.Handler{
		model.TopicOf(&model.MemberActivatedEvent{}):          func(string, []byte) { o.activated.Add(1) },
		model.TopicOf(&model.ClusterInstanceActivatedEvent{}): func(string, []byte) { o.clusterActive.Add(1) },
	}
	for filter, h := range subs {
		if err := c.Subscribe(ctx, filter, h); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []model.Event{&model.MemberCreatedEvent{}, &model.MemberActivatedEvent{}, &model.MemberTerminatedEvent{}} {
		if err := c.SubscribeEvents(ctx, model.TopicOf(e), o.lifecycleEvent); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, startTimeout, "the observer to connect", func() bool { return c.State() == bus.Connected })
	return o
}

// lifecycleEvent notes a member's MemberCreated, MemberActivated or MemberTerminated event.
func (o *observer) lifecycleEvent(_ string, e model.Event) {
	o.lifeMu.Lock()
	defer o.lifeMu.Unlock()
	get := func(id string) *lifecycle {
		l := o.life[id]
		if l == nil {
			l = &lifecycle{}
			o.life[id] = l
		}
		return l
	}
	switch ev := e.(type) {
	case *model.MemberCreatedEvent:
		get(ev.MemberID).created++
	case *model.MemberActivatedEvent:
		get(ev.MemberID).activated++
	case *model.MemberTerminatedEvent:
		l := get(ev.MemberID)
		if l.terminated == 0 {
			o.ended++
			select {
			case o.more <- struct{}{}:
			default:
			}
		}
		l.terminated++
	}
}

// awaitTerminated waits until the observer has seen n members terminated, or for within.
func (o *observer) awaitTerminated(n int, within time.Duration) {
	timeout := time.After(within)
	for {
		o.lifeMu.Lock()
		ended := o.ended
		o.lifeMu.Unlock()
		if ended >= n {
			return
		}
		select {
		case <-o.more:
		case <-timeout:
			return
		}
	}
}

// incomplete counts the members whose MemberCreated, MemberActivated or MemberTerminated the
// observer did not see, and describes one of them.
func (o *observer) incomplete() (int, string) {
	o.lifeMu.Lock()
	defer o.lifeMu.Unlock()
	n, first := 0, ""
	for id, l := range o.life {
		if l.created == 0 || l.activated == 0 || l.terminated == 0 {
			n++
			if first == "" {
				first = fmt.Sprintf("%s: %+v", id, *l)
			}
		}
	}
	return n, first
}

// askTopology has the topology agent ask for a complete topology and returns how long the
// CompleteTopologyEvent took to arrive, and its size.
func (o *observer) askTopology(t *testing.T) (time.Duration, int) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	// Where the time goes: when the controller took the request (its count of complete
	// topologies grows), measured by polling, next to the answer's arrival.
	before := o.app.Controller().Stats()
	published := before.TopologyPublished
	o.reached.Store(0)
	start := time.Now()
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopWatch:
				return
			case <-tick.C:
				if o.app.Controller().Stats().TopologyPublished > published {
					o.reached.Store(int64(time.Since(start)))
					return
				}
			}
		}
	}()
	answer, size := o.agent.ask(t)
	o.encoded.Store(int64(o.app.Controller().Stats().TopologyEncodeTime - before.TopologyEncodeTime))
	return answer, size
}
