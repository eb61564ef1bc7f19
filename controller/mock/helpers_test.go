package mock

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
)

const wait = 20 * time.Second

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeClock is the tests' manual clock.
type fakeClock = clock.Manual

func newFakeClock() *fakeClock {
	return clock.NewManual(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
}

// fakeBus records published events and delivers events to the subscribed handlers by topic.
type fakeBus struct {
	mu        sync.Mutex
	handlers  map[string]bus.EventHandler
	published []model.Event
	signal    chan struct{}
}

func newFakeBus() *fakeBus {
	return &fakeBus{handlers: map[string]bus.EventHandler{}, signal: make(chan struct{}, 1)}
}

func (b *fakeBus) PublishEvent(_ context.Context, e model.Event) error {
	b.mu.Lock()
	b.published = append(b.published, e)
	b.mu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
	return nil
}

func (b *fakeBus) SubscribeEvents(_ context.Context, filter string, h bus.EventHandler) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.handlers[filter] = h
	return nil
}

// deliver hands an event to the handler subscribed to its topic, as the bus would.
func (b *fakeBus) deliver(e model.Event) {
	topic := model.TopicOf(e)
	b.mu.Lock()
	h := b.handlers[topic]
	b.mu.Unlock()
	if h != nil {
		h(topic, e)
	}
}

// waitPublished waits until n events were published and returns them.
func (b *fakeBus) waitPublished(t testing.TB, n int) []model.Event {
	t.Helper()
	timeout := time.After(wait)
	for {
		b.mu.Lock()
		got := append([]model.Event(nil), b.published...)
		b.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-b.signal:
		case <-timeout:
			t.Fatalf("%d events published, want %d", len(got), n)
		}
	}
}

func (b *fakeBus) subscribed(topic string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.handlers[topic]
	return ok
}

// receiver is a real data-bridge server (the secure service over TLS, as the Python agent and
// the CEP speak it) that counts the events it receives.
type receiver struct {
	srv    *databridge.Server
	events atomic.Uint64

	mu      sync.Mutex
	keep    bool
	samples []model.HealthSample
	signal  chan struct{}
}

func (r *receiver) HandleEvents(events []databridge.Event) {
	r.events.Add(uint64(len(events)))
	if !r.keep {
		return
	}
	r.mu.Lock()
	for i := range events {
		if s, ok := events[i].HealthSample(); ok {
			r.samples = append(r.samples, s)
		}
	}
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

// startReceiver runs a data-bridge server and returns it with a client connected to it.
func startReceiver(t testing.TB, keep bool) (*receiver, *databridge.Client) {
	t.Helper()
	cert, err := databridge.LoadOrCreateCertificate(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{keep: keep, signal: make(chan struct{}, 1)}
	srv, err := databridge.NewServer(databridge.ServerOptions{SecureAddr: "127.0.0.1:0", TLS: databridge.ServerTLS(cert),
		Authenticate: databridge.StaticCredentials("admin", "admin"), Handler: r, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	r.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	cfg, err := databridge.ClientTLS(cert)
	if err != nil {
		t.Fatal(err)
	}
	c, err := databridge.NewClient(databridge.ClientOptions{URLs: []string{"ssl://" + srv.SecureAddr().String()}, TLS: cfg,
		Username: "admin", Password: "admin", Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		cancel()
		<-done
	})
	return r, c
}

// thriftPublish is the PublishFunc cmd/strata wires: one bundle per batch over a data-bridge
// client, health samples on cartridge_agent_health_stats and in-flight counts on
// in_flight_requests.
func thriftPublish(c *databridge.Client) PublishFunc { return databridge.SamplePublisher(c) }

// samplesOf returns the samples the receiver has for a member.
func (r *receiver) samplesOf(member string) []model.HealthSample {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []model.HealthSample
	for _, s := range r.samples {
		if s.MemberID == member || (member == "" && s.MemberID == "") {
			out = append(out, s)
		}
	}
	return out
}

func startInstance(t testing.TB, d *Driver, memberID, cartridge string) controller.Started {
	t.Helper()
	st, err := d.Start(context.Background(), controller.Instance{
		MemberID: memberID, ClusterID: "app1." + cartridge + ".domain", ClusterInstanceID: "app1-1", ServiceName: cartridge,
		NetworkPartitionID: "np1", PartitionID: "p1",
		Payload: model.Payload{{Key: model.PayloadApplicationID, Value: "app1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}
