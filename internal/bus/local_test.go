package bus

import (
	"fmt"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// TestLocalClient: a client given the broker of its process (Options.Local) opens no connection,
// yet publishes to and receives from the broker's other clients like a connected one: a message
// matching two of its filters reaches each of their handlers once, its own publications reach
// its subscriptions, and a subscription it ends gets nothing more (issue 17: the platform spent a
// third of an undeploy's CPU carrying its messages to itself over loopback).
func TestLocalClient(t *testing.T) {
	t.Parallel()
	b := runBroker(t, BrokerOptions{})
	ctx := ctxT(t)
	local := runClient(t, Options{URLs: []string{b.URL()}, Local: b})
	all, allCh := collector(16)
	one, oneCh := collector(16)
	if err := local.Consumer("x").Subscribe(ctx, "strata-test/#", all); err != nil {
		t.Fatal(err)
	}
	local.waitFor(t, Connected)
	if err := local.Consumer("y").Subscribe(ctx, "strata-test/b", one); err != nil { // after Connected
		t.Fatal(err)
	}
	remote := runClient(t, Options{URLs: []string{b.URL()}})
	heard, heardCh := collector(16)
	if err := remote.Subscribe(ctx, "strata-test/#", heard); err != nil {
		t.Fatal(err)
	}
	remote.waitFor(t, Connected)
	if n := b.Stats().ClientsConnected; n != 1 {
		t.Errorf("%d clients connected to the broker, want the remote one", n)
	}

	if err := remote.Publish(ctx, "strata-test/b", []byte("from remote"), 1); err != nil {
		t.Fatal(err)
	}
	expectMessages(t, "strata-test/#", allCh, "strata-test/b from remote")
	expectMessages(t, "strata-test/b", oneCh, "strata-test/b from remote")
	expectMessages(t, "the remote client", heardCh, "strata-test/b from remote")
	if err := local.Publish(ctx, "strata-test/c", []byte("from local"), 1); err != nil {
		t.Fatal(err)
	}
	expectMessages(t, "strata-test/#", allCh, "strata-test/c from local")
	expectMessages(t, "the remote client", heardCh, "strata-test/c from local")

	if err := local.Consumer("x").Unsubscribe(ctx, "strata-test/#"); err != nil {
		t.Fatal(err)
	}
	// The last message reaches every handler, after anything earlier that should not have.
	for _, k := range []struct {
		consumer string
		h        Handler
	}{{"x", all}, {"y", one}} {
		if err := local.Consumer(k.consumer).Subscribe(ctx, "strata-test/end", k.h); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []struct{ topic, payload string }{{"strata-test/b", "again"}, {"strata-test/end", "."}} {
		if err := remote.Publish(ctx, m.topic, []byte(m.payload), 1); err != nil {
			t.Fatal(err)
		}
	}
	expectMessages(t, "strata-test/b", oneCh, "strata-test/b again", "strata-test/end .")
	expectMessages(t, "strata-test/# after its unsubscription", allCh, "strata-test/end .")
	expectMessages(t, "the remote client", heardCh, "strata-test/b again", "strata-test/end .")
	// The sender counts a message sent once the broker has handed it to every subscriber.
	testenv.Eventually(t, wait, "the local client's message to be counted as sent", func() bool { return local.Stats().Sent == 1 })
	if st := local.Stats(); st.Received != 4 || st.Connects != 1 {
		t.Errorf("local client stats %+v, want 4 received, 1 connect", st)
	}
}

// expectMessages takes the next messages of ch, "topic payload" each: a message delivered twice,
// or after its subscription ended, shows as the wrong one at the next call (each handler gets
// one publisher's messages in order).
func expectMessages(t *testing.T, name string, ch chan received, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case got := <-ch:
			if got := got.topic + " " + got.payload; got != w {
				t.Errorf("%s got %q, want %q", name, got, w)
			}
		case <-time.After(wait):
			t.Fatalf("%s got nothing, want %q", name, w)
		}
	}
}

// TestLocalClientPublishesIntoAFullQueue: a handler that publishes, on a local client, more
// messages into its own consumer than its queue holds does not wait for itself: the client's
// sender hands them to the full queue anyway rather than wait for room, which only that handler
// could make, while the handler waits for the outbox that the sender drains.
func TestLocalClientPublishesIntoAFullQueue(t *testing.T) {
	t.Parallel()
	b := runBroker(t, BrokerOptions{})
	ctx := ctxT(t)
	c := runClient(t, Options{URLs: []string{b.URL()}, Local: b, QueueLimit: 4, OutboxLimit: 2})
	const n = 50
	got := make(chan string, n+1)
	k := c.Consumer("echo")
	if err := k.Subscribe(ctx, "strata-test/echo/#", func(topic string, _ []byte) {
		got <- topic
		if topic != "strata-test/echo/start" {
			return
		}
		for i := range n {
			if err := k.Publish(ctx, fmt.Sprint("strata-test/echo/", i), nil, 1); err != nil {
				t.Errorf("publish %d: %v", i, err)
				return
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, Connected)
	if err := c.Publish(ctx, "strata-test/echo/start", nil, 1); err != nil {
		t.Fatal(err)
	}
	for i := range n + 1 {
		select {
		case <-got:
		case <-time.After(wait):
			t.Fatalf("%d messages of %d handled: the handler and the sender wait for each other", i, n+1)
		}
	}
	if q := c.Stats().Queues["echo"]; q.Full == 0 {
		t.Errorf("queue stats %+v: the queue was never full, so the test proves nothing", q)
	}
}

// TestLocalEventsAreNotDecoded: an event that a client given the broker of its process
// publishes as a pointer reaches the event subscriptions of the process's clients as that very
// event, without being decoded from its bytes (issue 17: in an undeploy of 100 000 members
// `strata up` decoded 500 000 events it had just encoded); a connected client still gets the
// bytes, and an event published by value or by a connected client is decoded.
func TestLocalEventsAreNotDecoded(t *testing.T) {
	t.Parallel()
	b := runBroker(t, BrokerOptions{})
	ctx := ctxT(t)
	pub := runClient(t, Options{URLs: []string{b.URL()}, Local: b})
	sub := runClient(t, Options{URLs: []string{b.URL()}, Local: b})
	remote := runClient(t, Options{URLs: []string{b.URL()}})
	topic := model.TopicOf(&model.MemberActivatedEvent{})
	got := make(chan model.Event, 4)
	if err := sub.SubscribeEvents(ctx, topic, func(_ string, e model.Event) { got <- e }); err != nil {
		t.Fatal(err)
	}
	heard, heardCh := collector(4)
	if err := remote.Subscribe(ctx, topic, heard); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*testClient{pub, sub, remote} {
		c.waitFor(t, Connected)
	}
	next := func(what string) model.Event {
		t.Helper()
		select {
		case e := <-got:
			return e
		case <-time.After(wait):
			t.Fatalf("%s: no event came", what)
			return nil
		}
	}

	sent := &model.MemberActivatedEvent{ServiceName: "php", ClusterID: "c1", MemberID: "m1"}
	if err := pub.PublishEvent(ctx, sent); err != nil {
		t.Fatal(err)
	}
	if e := next("a pointer"); e != model.Event(sent) {
		t.Errorf("the subscription in the process got %#v, a decoding, want the published event itself", e)
	}
	select {
	case m := <-heardCh:
		if !strings.Contains(m.payload, `"memberId":"m1"`) {
			t.Errorf("the connected client got %s, want the event's JSON", m.payload)
		}
	case <-time.After(wait):
		t.Fatal("the connected client got nothing")
	}
	if n := sub.Stats().SharedDecodes; n != 1 {
		t.Errorf("SharedDecodes is %d, want 1: the event was taken without decoding it", n)
	}

	for _, p := range []struct {
		name string
		c    *testClient
		e    model.Event
	}{
		{"by value", pub, model.MemberActivatedEvent{MemberID: "m2"}},
		{"from a connected client", remote, &model.MemberActivatedEvent{MemberID: "m3"}},
	} {
		if err := p.c.PublishEvent(ctx, p.e); err != nil {
			t.Fatal(err)
		}
		e := next(p.name)
		if e == p.e {
			t.Errorf("%s: the subscription got the published event itself, want a decoding", p.name)
		}
		if ev, ok := e.(*model.MemberActivatedEvent); !ok || ev.MemberID == "" {
			t.Errorf("%s: the subscription got %#v, want a decoded *MemberActivatedEvent", p.name, e)
		}
	}
}

// TestLocalPublicationsReachClientsOnlyWhenSubscribed: a publication of the process on a topic
// no connected client subscribed to goes to the process's subscribers without mochi (issue 17:
// mochi spent 10 µs and built four maps for each of the platform's messages to itself). Once a
// client subscribes, it gets them; a persistent session gets them while its client is away; an
// unsubscribed topic is the process's alone again. The clients' publications, retained ones
// included, reach the process's subscribers once.
func TestLocalPublicationsReachClientsOnlyWhenSubscribed(t *testing.T) {
	t.Parallel()
	b := runBroker(t, BrokerOptions{})
	ctx := ctxT(t)
	local := runClient(t, Options{URLs: []string{b.URL()}, Local: b})
	all, allCh := collector(16)
	if err := local.Consumer("all").Subscribe(ctx, "strata-test/#", all); err != nil {
		t.Fatal(err)
	}
	local.waitFor(t, Connected)
	publish := func(topic string) {
		t.Helper()
		if err := local.Publish(ctx, topic, []byte("x"), 1); err != nil {
			t.Fatal(err)
		}
		expectMessages(t, "the process", allCh, topic+" x")
	}
	// The process's subscribers get a message before the broker's clients do.
	stats := func(wantLocal, wantReceived int64) {
		t.Helper()
		testenv.Eventually(t, wait, fmt.Sprintf("LocalOnly %d and MessagesReceived %d", wantLocal, wantReceived), func() bool {
			s := b.Stats()
			return s.LocalOnly == wantLocal && s.MessagesReceived == wantReceived
		})
	}

	publish("strata-test/a")
	stats(1, 0)

	remote := make(chan received, 16)
	persistent := func(o *mqtt.ClientOptions) {
		o.SetCleanSession(false).SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			remote <- received{m.Topic(), string(m.Payload())}
		})
	}
	c, err := mqttClient(t, b.URL(), "strata-test-session", "", "", persistent)
	if err != nil {
		t.Fatal(err)
	}
	answered(t, c.Subscribe("strata-test/+", 1, nil))
	publish("strata-test/b")
	expectMessages(t, "the client", remote, "strata-test/b x")
	stats(1, 1)

	c.Disconnect(100)
	testenv.Eventually(t, wait, "the client to be gone", func() bool { return b.Stats().ClientsConnected == 0 })
	publish("strata-test/c") // kept for the session
	stats(1, 2)
	c, err = mqttClient(t, b.URL(), "strata-test-session", "", "", persistent)
	if err != nil {
		t.Fatal(err)
	}
	for got := (received{}); got.topic != "strata-test/c"; {
		select {
		case got = <-remote: // b again, if its acknowledgement was not out when the client left
			if got.topic != "strata-test/b" && got.topic != "strata-test/c" {
				t.Fatalf("the client, back, got %v", got)
			}
		case <-time.After(wait):
			t.Fatal("the client, back, did not get what its session kept")
		}
	}
	answered(t, c.Unsubscribe("strata-test/+"))
	publish("strata-test/d")
	stats(2, 2)

	publishQoS1(t, c, "strata-test/e", []byte("y"))
	expectMessages(t, "the process", allCh, "strata-test/e y")
	tok := c.Publish("strata-test/r", 1, true, []byte("kept"))
	answered(t, tok)
	expectMessages(t, "the process", allCh, "strata-test/r kept")
	retained, retainedCh := collector(4)
	if err := local.Consumer("late").Subscribe(ctx, "strata-test/r", retained); err != nil {
		t.Fatal(err)
	}
	expectMessages(t, "a later subscription", retainedCh, "strata-test/r kept")
	// The client's other matching subscription gets it too, as over a connection.
	expectMessages(t, "the process", allCh, "strata-test/r kept")
	publish("strata-test/f") // the last: anything delivered twice would show before it
	stats(3, 4)
}
