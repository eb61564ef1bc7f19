package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// gate holds a publisher's flush after a reconnect until a subscriber has resubscribed: the
// broker forgets subscriptions when it restarts, so a message it routes before the subscriber is
// back reaches nobody (see doc.go). The publisher's OnState blocks until the subscriber's
// connection count has caught up with its own.
type gate struct {
	mu         sync.Mutex
	subConns   int
	subUp      bool
	changed    chan struct{}
	pubConns   atomic.Int32
	waitedOnce atomic.Bool
}

func newGate() *gate { return &gate{changed: make(chan struct{}, 1)} }

func (g *gate) subState(s State) {
	g.mu.Lock()
	g.subUp = s == Connected
	if g.subUp {
		g.subConns++
	}
	g.mu.Unlock()
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

func (g *gate) pubState(s State) {
	if s != Connected {
		return
	}
	n := int(g.pubConns.Add(1))
	timeout := time.After(wait)
	for {
		g.mu.Lock()
		ok := g.subUp && g.subConns >= n
		g.mu.Unlock()
		if ok {
			return
		}
		g.waitedOnce.Store(true)
		select {
		case <-g.changed:
		case <-timeout:
			return // the test then fails on the missing messages
		}
	}
}

// seqSet records which numbers arrived and how often.
type seqSet struct {
	mu   sync.Mutex
	seen map[int]int
	more chan struct{}
}

func newSeqSet() *seqSet { return &seqSet{seen: map[int]int{}, more: make(chan struct{}, 1)} }

func (s *seqSet) handler(_ string, payload []byte) {
	n, err := strconv.Atoi(string(payload))
	if err != nil {
		return
	}
	s.mu.Lock()
	s.seen[n]++
	s.mu.Unlock()
	select {
	case s.more <- struct{}{}:
	default:
	}
}

// waitAll waits until every number in [0, n) has arrived; it returns the count of duplicates.
func (s *seqSet) waitAll(t *testing.T, n int) (dups int) {
	t.Helper()
	timeout := time.After(wait)
	for {
		s.mu.Lock()
		missing := []int{}
		dups = 0
		for i := range n {
			switch c := s.seen[i]; {
			case c == 0:
				missing = append(missing, i)
			case c > 1:
				dups += c - 1
			}
		}
		s.mu.Unlock()
		if len(missing) == 0 {
			return dups
		}
		select {
		case <-s.more:
		case <-timeout:
			if len(missing) > 20 {
				missing = missing[:20]
			}
			t.Fatalf("missing numbers (first 20): %v", missing)
		}
	}
}

// TestBrokerRestart publishes a numbered QoS 1 sequence continuously while a private Mosquitto
// is stopped for two seconds and started again: every number must arrive at least once.
// Duplicates are possible (a message whose PUBACK was lost in the crash is sent again) and are
// counted, not failed.
func TestBrokerRestart(t *testing.T) {
	srv := testenv.StartMosquitto(t)
	g := newGate()
	got := newSeqSet()
	sub := runClient(t, Options{URLs: []string{srv.URL()}, OnState: g.subState})
	ctx := ctxT(t)
	if err := sub.Subscribe(ctx, "strata-test/seq", got.handler); err != nil {
		t.Fatal(err)
	}
	sub.waitFor(t, Connected)
	pub := runClient(t, Options{URLs: []string{srv.URL()}, OnState: g.pubState})
	pub.waitFor(t, Connected)

	var n atomic.Int32
	progress := make(chan struct{}, 1)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		// A steady stream, paced so the outbox (default bound) holds the downtime.
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				done <- nil
				return
			case <-tick.C:
			}
			i := n.Load()
			if err := pub.Publish(ctx, "strata-test/seq", []byte(strconv.Itoa(int(i))), 1); err != nil {
				done <- err
				return
			}
			n.Add(1)
			select {
			case progress <- struct{}{}:
			default:
			}
		}
	}()

	waitCount(t, &n, 200, progress)
	srv.Stop()
	pub.waitFor(t, Disconnected)
	sub.waitFor(t, Disconnected)
	before := n.Load()
	time.Sleep(2 * time.Second) // the outage: publishing goes on meanwhile
	queued := n.Load() - before
	srv.Start()
	pub.waitFor(t, Connected)
	waitCount(t, &n, n.Load()+200, progress)
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("publish: %v", err)
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	total := int(n.Load())
	dups := got.waitAll(t, total)
	t.Logf("%d messages, %d published during the outage, %d duplicates; publisher %+v", total, queued, dups, pub.Stats())
	if queued == 0 {
		t.Error("nothing was published during the outage")
	}
}

// waitCount waits until the counter reaches at least want.
func waitCount(t *testing.T, n *atomic.Int32, want int32, progress <-chan struct{}) {
	t.Helper()
	timeout := time.After(wait)
	for n.Load() < want {
		select {
		case <-progress:
		case <-timeout:
			t.Fatalf("counter at %d, want %d", n.Load(), want)
		}
	}
}

// TestOutboxBound publishes with no broker: the bound is hit with ErrOutboxFull, and what was
// queued is delivered, in order, once the broker comes up.
func TestOutboxBound(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	pub, subReady := heldClient(t, Options{URLs: []string{"tcp://" + addr}, OutboxLimit: 5})
	ctx := ctxT(t)
	for i := range 5 {
		if err := pub.Publish(ctx, "strata-test/outbox", []byte(strconv.Itoa(i)), byte(i%2)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	err := pub.Publish(ctx, "strata-test/outbox", []byte("5"), 1)
	if !errors.Is(err, ErrOutboxFull) {
		t.Fatalf("sixth publish = %v, want ErrOutboxFull", err)
	}
	t.Logf("sixth publish: %v", err)
	if st := pub.Stats(); st.Rejected != 1 || st.Outbox != 5 || st.Queued != 5 {
		t.Errorf("stats %+v", st)
	}

	b := runBroker(t, BrokerOptions{Listeners: []string{addr}})
	handler, ch := collector(100) // room for every message: Run waits for a running handler
	sub := runClient(t, Options{URLs: []string{b.URL()}})
	if err := sub.Subscribe(ctx, "strata-test/outbox", handler); err != nil {
		t.Fatal(err)
	}
	sub.waitFor(t, Connected)
	subReady()
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range take(t, ch, 5) {
		got = append(got, r.payload)
	}
	if fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Errorf("received %v, want 0..4 in order", got)
	}
	// Connected and full: Publish waits for room instead of failing.
	for i := range 50 {
		if err := pub.Publish(ctx, "strata-test/outbox", []byte("x"), 1); err != nil {
			t.Fatalf("publish %d while connected: %v", i, err)
		}
	}
}

// TestPublishWaitsWhileConnected: with a full outbox and a live connection, Publish blocks for
// room and a ctx that ends first yields ErrOutboxFull wrapping the ctx error.
func TestPublishFullCtx(t *testing.T) {
	c, err := New(Options{URLs: []string{"tcp://127.0.0.1:1"}, OutboxLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.state = Connected // pretend: nothing drains the outbox
	c.mu.Unlock()
	if err := c.Publish(context.Background(), "t", nil, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- c.Publish(ctx, "t", nil, 0) }()
	cancel()
	err = <-errc
	if !errors.Is(err, ErrOutboxFull) || !errors.Is(err, context.Canceled) {
		t.Errorf("Publish = %v, want ErrOutboxFull and context.Canceled", err)
	}
}

// TestFailoverAndResubscribe: the first URL is dead, the second works; Subscribe and Unsubscribe
// while connected take effect.
func TestFailoverAndResubscribe(t *testing.T) {
	b := runBroker(t, BrokerOptions{})
	dead := fmt.Sprintf("tcp://127.0.0.1:%d", testenv.FreePort(t))
	c := runClient(t, Options{URLs: []string{dead, b.URL()}})
	c.waitFor(t, Connected)
	ctx := ctxT(t)
	handler, ch := collector(10)
	if err := c.Subscribe(ctx, "strata-test/f/#", handler); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, "strata-test/f/1", []byte("one"), 1); err != nil {
		t.Fatal(err)
	}
	if r := take(t, ch, 1); r[0].payload != "one" {
		t.Errorf("got %v", r)
	}
	if err := c.Unsubscribe(ctx, "strata-test/f/#"); err != nil {
		t.Fatal(err)
	}
	marker, markerCh := collector(1)
	if err := c.Subscribe(ctx, "strata-test/marker", marker); err != nil {
		t.Fatal(err)
	}
	_ = c.Publish(ctx, "strata-test/f/2", []byte("two"), 1)
	_ = c.Publish(ctx, "strata-test/marker", []byte("m"), 1)
	take(t, markerCh, 1) // in order on one connection: "two" would have come first
	select {
	case r := <-ch:
		t.Errorf("received %v after Unsubscribe", r)
	default:
	}
}

// TestDecodeErrorsCounted: undecodable events are counted, and logged once per topic.
func TestDecodeErrorsCounted(t *testing.T) {
	b := runBroker(t, BrokerOptions{})
	c := runClient(t, Options{URLs: []string{b.URL()}})
	ctx := ctxT(t)
	events := make(chan string, 10)
	if err := c.SubscribeEvents(ctx, "topology/#", func(topic string, _ model.Event) { events <- topic }); err != nil {
		t.Fatal(err)
	}
	marker, markerCh := collector(1)
	if err := c.Subscribe(ctx, "strata-test/marker", marker); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, Connected)
	for range 100 {
		_ = c.Publish(ctx, "topology/NoSuchEvent", []byte("{}"), 1)
		_ = c.Publish(ctx, "topology/MemberActivatedEvent", []byte("not json"), 1)
	}
	_ = c.Publish(ctx, "topology/ServiceRemovedEvent", []byte(`{"serviceName":"php"}`), 1)
	_ = c.Publish(ctx, "strata-test/marker", nil, 1)
	take(t, markerCh, 1)
	if st := c.Stats(); st.DecodeErrors != 200 {
		t.Errorf("decode errors %d, want 200", st.DecodeErrors)
	}
	if n := c.decodeTopics.Load(); n != 2 {
		t.Errorf("%d topics logged, want 2", n)
	}
	if got := <-events; got != "topology/ServiceRemovedEvent" {
		t.Errorf("event on %s", got)
	}
}

// TestFailoverWhenBrokerDies: a client on the first of two brokers moves to the second when the
// first goes away, restores its subscription there and keeps publishing.
func TestFailoverWhenBrokerDies(t *testing.T) {
	first, err := NewBroker(BrokerOptions{Listeners: []string{"127.0.0.1:0"}, AllowAnonymous: true, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx1, stopFirst := context.WithCancel(context.Background())
	firstDone := make(chan error, 1)
	go func() { firstDone <- first.Run(ctx1) }()
	defer func() { stopFirst(); <-firstDone }()
	second := runBroker(t, BrokerOptions{})

	c := runClient(t, Options{URLs: []string{first.URL(), second.URL()}})
	ctx := ctxT(t)
	handler, ch := collector(10)
	if err := c.Subscribe(ctx, "strata-test/failover", handler); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, Connected)
	if err := c.Publish(ctx, "strata-test/failover", []byte("on first"), 1); err != nil {
		t.Fatal(err)
	}
	take(t, ch, 1)
	if first.Stats().ClientsConnected != 1 || second.Stats().ClientsConnected != 0 {
		t.Fatalf("client not on the first broker: %+v %+v", first.Stats(), second.Stats())
	}

	stopFirst()
	if err := <-firstDone; err != nil {
		t.Fatal(err)
	}
	firstDone <- nil // for the deferred stop
	c.waitFor(t, Disconnected)
	c.waitFor(t, Connected)
	if err := c.Publish(ctx, "strata-test/failover", []byte("on second"), 1); err != nil {
		t.Fatal(err)
	}
	// Delivery is at least once: if the first broker's PUBACK for "on first" was still on its
	// way when the broker stopped, the client sends "on first" again to the second broker, so
	// the subscriber may see it once more before "on second", never after it and nothing else.
	for r := take(t, ch, 1)[0]; r.payload != "on second"; r = take(t, ch, 1)[0] {
		if r.payload != "on first" {
			t.Fatalf("got %v", r)
		}
	}
	if second.Stats().ClientsConnected != 1 {
		t.Errorf("second broker: %+v", second.Stats())
	}
}

// TestPublishFromHandler: a handler may publish (Publish only queues), here echoing every
// request to a reply topic.
func TestPublishFromHandler(t *testing.T) {
	b := runBroker(t, BrokerOptions{})
	c := runClient(t, Options{URLs: []string{b.URL()}})
	ctx := ctxT(t)
	if err := c.Subscribe(ctx, "strata-test/req", func(_ string, p []byte) {
		if err := c.Publish(ctx, "strata-test/reply", p, 1); err != nil {
			t.Error(err)
		}
	}); err != nil {
		t.Fatal(err)
	}
	handler, ch := collector(100)
	if err := c.Subscribe(ctx, "strata-test/reply", handler); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, Connected)
	for i := range 100 {
		if err := c.Publish(ctx, "strata-test/req", []byte(strconv.Itoa(i)), 1); err != nil {
			t.Fatal(err)
		}
	}
	take(t, ch, 100)
}
