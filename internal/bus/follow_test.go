package bus

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// controllerStub answers every CompleteTopologyRequestEvent with a complete topology, as the cloud
// controller does, and counts the requests.
func controllerStub(t *testing.T, url string) (*testClient, *atomic.Int64) {
	t.Helper()
	ctrl := runClient(t, Options{URLs: []string{url}, ClientID: "controller"})
	var asked atomic.Int64
	ctx := ctxT(t)
	err := ctrl.SubscribeEvents(ctx, model.SubscribeInitializer, func(_ string, e model.Event) {
		if _, ok := e.(*model.CompleteTopologyRequestEvent); ok {
			asked.Add(1)
			if err := ctrl.PublishEvent(ctx, &model.CompleteTopologyEvent{}); err != nil {
				t.Error(err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	ctrl.waitFor(t, Connected)
	return ctrl, &asked
}

// eventCollector hands the classes of the events it receives to a channel.
func eventCollector() (EventHandler, chan string) {
	ch := make(chan string, 100)
	return func(_ string, e model.Event) { ch <- e.EventClass() }, ch
}

func takeClass(t *testing.T, ch chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	case <-time.After(wait):
		t.Fatalf("no %s", want)
	}
}

// TestFollowTopology: a follower takes the complete topology it asked for, then the topology
// events, and not the complete topologies published for others afterwards; after a reconnect it
// asks and takes one again.
func TestFollowTopology(t *testing.T) {
	b := runBroker(t, BrokerOptions{})
	ctrl, asked := controllerStub(t, b.URL())
	c := runClient(t, Options{URLs: []string{b.URL()}, ClientID: "platform"})
	ctx := ctxT(t)
	h, ch := eventCollector()
	member := model.TopicOf(&model.MemberActivatedEvent{})
	if err := c.Consumer("cep").FollowTopology(ctx, []string{member}, h, 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	complete := (&model.CompleteTopologyEvent{}).EventClass()
	takeClass(t, ch, complete)
	// Once the answer is handled, the follower leaves the complete topology.
	testenv.Eventually(t, wait, "the follower to leave the complete topology", func() bool { return !b.Subscribed(completeTopologyTopic) })
	if err := ctrl.PublishEvent(ctx, &model.CompleteTopologyEvent{}); err != nil {
		t.Fatal(err)
	}
	if err := ctrl.PublishEvent(ctx, &model.MemberActivatedEvent{MemberID: "m1"}); err != nil {
		t.Fatal(err)
	}
	// From one publisher, in order: had the complete topology come, it would come first.
	takeClass(t, ch, (&model.MemberActivatedEvent{}).EventClass())
	before := asked.Load()

	if n := b.Disconnect(func(Identity) bool { return true }); n == 0 {
		t.Fatal("no client disconnected")
	}
	takeClass(t, ch, complete)
	if asked.Load() == before {
		t.Error("the follower did not ask again after the reconnect")
	}
}

// TestConsumerUnsubscribe: a consumer leaving a filter leaves it for itself only.
func TestConsumerUnsubscribe(t *testing.T) {
	b := runBroker(t, BrokerOptions{})
	c := runClient(t, Options{URLs: []string{b.URL()}})
	ctx := ctxT(t)
	h1, ch1 := collector(10)
	h2, ch2 := collector(10)
	a, z := c.Consumer("a"), c.Consumer("z")
	for _, s := range []struct {
		k      *Consumer
		filter string
		h      Handler
	}{{a, "strata-test/u", h1}, {a, "strata-test/marker", h1}, {z, "strata-test/u", h2}} {
		if err := s.k.Subscribe(ctx, s.filter, s.h); err != nil {
			t.Fatal(err)
		}
	}
	c.waitFor(t, Connected)
	if err := a.Unsubscribe(ctx, "strata-test/u"); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"strata-test/u", "strata-test/marker"} {
		if err := c.Publish(ctx, topic, []byte("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	take(t, ch2, 1)
	// The consumer's queue is ordered: had it kept strata-test/u, that message would come first.
	if r := take(t, ch1, 1); r[0].topic != "strata-test/marker" {
		t.Fatalf("the consumer that left got %v", r)
	}
	if err := z.Unsubscribe(ctx, "strata-test/u"); err != nil {
		t.Fatal(err)
	}
	if b.Subscribed("strata-test/u") {
		t.Error("the broker still has the filter once every consumer left it")
	}
}
