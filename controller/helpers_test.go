package controller_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// wait bounds how long a test waits for something that should happen promptly.
const wait = 20 * time.Second

// fakeClock is the tests' manual clock.
type fakeClock = clock.Manual

func newFakeClock() *fakeClock {
	return clock.NewManual(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
}

// testLogger writes warnings and errors to the test output until the test ends.
func testLogger(t testing.TB) *slog.Logger { return testenv.Logger(t, slog.LevelWarn) }

// runBroker starts an embedded broker on a free port until the test ends. Its clients are
// anonymous, so each has the broker's one packet limit: room for the complete topology of the
// benchmarks' 10 000 members (8.4 MB), as `strata up` gives its own client.
func runBroker(t testing.TB) *bus.Broker {
	t.Helper()
	b, err := bus.NewBroker(bus.BrokerOptions{Listeners: []string{"127.0.0.1:0"}, AllowAnonymous: true, MaxPacketSize: 64 << 20, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return b
}

// runClient runs a connected bus client; stop ends it (also at the end of the test).
func runClient(t testing.TB, url string) (c *bus.Client, stop func()) {
	t.Helper()
	connected := make(chan struct{}, 1)
	c, err := bus.New(bus.Options{URLs: []string{url}, Logger: testLogger(t), RetryMin: 20 * time.Millisecond,
		RetryMax: 200 * time.Millisecond, OnState: func(s bus.State) {
			if s == bus.Connected {
				select {
				case connected <- struct{}{}:
				default:
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	t.Cleanup(stop)
	select {
	case <-connected:
	case <-time.After(wait):
		t.Fatal("bus client did not connect")
	}
	return c, stop
}

// watcher records every event on the topics it watches, in arrival order.
type watcher struct {
	mu     sync.Mutex
	events []model.Event
	raw    map[string][][]byte // topic -> bodies, for CompleteTopologyEvent
	signal chan struct{}
}

func watch(t testing.TB, c *bus.Client, filters ...string) *watcher {
	t.Helper()
	w := &watcher{raw: map[string][][]byte{}, signal: make(chan struct{}, 1)}
	for _, f := range filters {
		if err := c.Subscribe(context.Background(), f, func(topic string, body []byte) {
			e, err := model.Unmarshal(topic, body)
			if err != nil {
				return
			}
			w.mu.Lock()
			w.events = append(w.events, e)
			if _, ok := e.(*model.CompleteTopologyEvent); ok {
				w.raw[topic] = append(w.raw[topic], body)
			}
			w.mu.Unlock()
			select {
			case w.signal <- struct{}{}:
			default:
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// memberOf returns the member id an event names, or "".
func memberOf(e model.Event) string {
	b, _ := json.Marshal(e)
	var v struct {
		MemberID string `json:"memberId"`
	}
	json.Unmarshal(b, &v)
	return v.MemberID
}

// until waits until cond holds for the events seen so far and returns them.
func (w *watcher) until(t testing.TB, what string, cond func([]model.Event) bool) []model.Event {
	t.Helper()
	timeout := time.After(wait)
	for {
		w.mu.Lock()
		evs := slices.Clone(w.events)
		w.mu.Unlock()
		if cond(evs) {
			return evs
		}
		select {
		case <-w.signal:
		case <-timeout:
			t.Fatalf("timed out waiting for %s; events seen:\n%s", what, classes(evs))
		}
	}
}

// ofMember returns the classes of the events naming the member, in order.
func ofMember(evs []model.Event, memberID string) []string {
	var out []string
	for _, e := range evs {
		if memberOf(e) == memberID {
			out = append(out, e.EventClass())
		}
	}
	return out
}

func classes(evs []model.Event) string {
	var s string
	for _, e := range evs {
		s += e.EventClass() + " " + memberOf(e) + "\n"
	}
	return s
}

func hasClass(evs []model.Event, memberID, class string) bool {
	return slices.Contains(ofMember(evs, memberID), class)
}

// recorder is a fake controller.Recorder.
type recorder struct {
	mu      sync.Mutex
	recs    []model.LifecycleRecord
	changed chan struct{} // closed and replaced at every record
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{})} }

func (r *recorder) RecordLifecycle(rec model.LifecycleRecord) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	close(r.changed)
	r.changed = make(chan struct{})
	return true
}

// statusesLocked are the member's recorded statuses; r.mu is held.
func (r *recorder) statusesLocked(memberID string) []string {
	var out []string
	for _, rec := range r.recs {
		if rec.MemberID == memberID {
			out = append(out, rec.Status)
		}
	}
	return out
}

// until waits, up to wait, until the member's recorded statuses satisfy done (records are
// handed over by the publisher, just after the events), and returns them.
func (r *recorder) until(memberID string, done func([]string) bool) []string {
	timeout := time.After(wait)
	for {
		r.mu.Lock()
		got, changed := r.statusesLocked(memberID), r.changed
		r.mu.Unlock()
		if done(got) {
			return got
		}
		select {
		case <-changed:
		case <-timeout:
			return got
		}
	}
}

// sample loads a Stratos sample definition from internal/model's testdata.
func sample[T any](t testing.TB, name string) T {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "internal", "model", "testdata", "cartridge-samples", name))
	if err != nil {
		t.Fatal(err)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// runController runs a controller until stop (or the end of the test) and waits until it is
// ready.
func runController(t testing.TB, o controller.Options) (c *controller.Controller, stop func()) {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	c, err := controller.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("controller Run: %v", err)
				}
			case <-time.After(wait):
				t.Errorf("controller Run did not return")
			}
			if err := c.Close(); err != nil {
				t.Errorf("controller Close: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-c.Ready():
	case <-time.After(wait):
		t.Fatal("controller did not become ready")
	}
	return c, stop
}

// startMembers starts n members of phpSpec's cluster, at most parallel at once.
func startMembers(t testing.TB, ctx context.Context, c *controller.Controller, n, parallel int) {
	t.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := c.StartMember(ctx, startReq); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}
