package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/strata-paas/strata/internal/testenv"
)

// brokers are the brokers every cross test runs against.
func brokers(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"embedded":  func(t *testing.T) string { return runBroker(t, BrokerOptions{}).URL() },
		"mosquitto": func(t *testing.T) string { return testenv.Mosquitto(t) },
	}
}

func TestPublishSubscribeRaw(t *testing.T) {
	for name, start := range brokers(t) {
		t.Run(name, func(t *testing.T) {
			url := start(t)
			sub := runClient(t, Options{URLs: []string{url}})
			all, allCh := collector(100)
			one, oneCh := collector(100)
			ctx := ctxT(t)
			if err := sub.Subscribe(ctx, "strata-test/#", all); err != nil {
				t.Fatal(err)
			}
			if err := sub.Subscribe(ctx, "strata-test/+/x", one); err != nil {
				t.Fatal(err)
			}
			sub.waitFor(t, Connected)

			pub := runClient(t, Options{URLs: []string{url}})
			msgs := []struct {
				topic string
				qos   byte
			}{
				{"strata-test/a", 0},
				{"strata-test/b/x", 1},
				{"other/c", 1},
				{"strata-test", 2},
				{"strata-test/d/y", 1},
			}
			for i, m := range msgs {
				if err := pub.Publish(ctx, m.topic, []byte(fmt.Sprint(i)), m.qos); err != nil {
					t.Fatal(err)
				}
			}
			if err := pub.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			want := []received{{"strata-test/a", "0"}, {"strata-test/b/x", "1"}, {"strata-test", "3"}, {"strata-test/d/y", "4"}}
			// MQTT orders messages per QoS level only: Mosquitto forwards a QoS 2 message at PUBREL.
			bySeq := cmpopts.SortSlices(func(a, b received) bool { return a.payload < b.payload })
			if diff := cmp.Diff(want, take(t, allCh, len(want)), cmp.AllowUnexported(received{}), bySeq); diff != "" {
				t.Errorf("strata-test/# (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]received{{"strata-test/b/x", "1"}}, take(t, oneCh, 1), cmp.AllowUnexported(received{})); diff != "" {
				t.Errorf("strata-test/+/x (-want +got):\n%s", diff)
			}
			st := pub.Stats()
			if st.Queued != 5 || st.Sent != 5 || st.Outbox != 0 {
				t.Errorf("publisher stats %+v", st)
			}
		})
	}
}

// take reads n messages, failing after a timeout.
func take(t testing.TB, ch <-chan received, n int) []received {
	t.Helper()
	out := make([]received, 0, n)
	timeout := time.After(wait)
	for len(out) < n {
		select {
		case r := <-ch:
			out = append(out, r)
		case <-timeout:
			t.Fatalf("got %d of %d messages: %v", len(out), n, out)
		}
	}
	return out
}

func TestPublishValidation(t *testing.T) {
	c, err := New(Options{URLs: []string{"tcp://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	for _, topic := range []string{"", "a/+", "a/#", "a\x00b"} {
		if err := c.Publish(ctx, topic, nil, 1); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("Publish(%q) = %v, want ErrInvalidTopic", topic, err)
		}
	}
	for _, f := range []string{"", "a/b#", "a/#/b", "a+/b"} {
		if err := c.Subscribe(ctx, f, func(string, []byte) {}); !errors.Is(err, ErrInvalidTopic) {
			t.Errorf("Subscribe(%q) = %v, want ErrInvalidTopic", f, err)
		}
	}
	if _, err := New(Options{URLs: []string{"http://x:1", "tcp://nohost"}, QoS: 3}); err == nil {
		t.Error("New accepted bad options")
	}
}

// TestSubscribeAsksAgainAfterPacketIDInUse runs against mochi without the embedded broker's
// packet-identifier hook (as an external mochi would be): the client subscribes while a QoS 1
// delivery with the same packet identifier is unacknowledged, mochi answers 0x91, and Subscribe
// asks again instead of returning with the subscription missing.
func TestSubscribeAsksAgainAfterPacketIDInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	auth := newAuthHook(BrokerOptions{AllowAnonymous: true}, nil, testLogger(t))
	auth.loopback["plain"] = true
	if err := srv.AddHook(auth, nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddListener(&listener{id: "plain", ln: ln, srv: srv, log: testLogger(t), conns: map[net.Conn]struct{}{}, ended: auth.forget}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })

	c := runClient(t, Options{URLs: []string{"tcp://" + ln.Addr().String()}})
	c.waitFor(t, Connected)
	ctx := context.Background()
	release := make(chan struct{})
	held := make(chan struct{})
	// Packet 1 is this SUBSCRIBE; the broker numbers its deliveries to the client 1, 2, ...
	if err := c.Subscribe(ctx, "a/#", func(_ string, p []byte) {
		if string(p) == "hold" {
			close(held)
			<-release // paho acknowledges once the handler returns
		}
	}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"first", "hold"} { // deliveries 1 and 2
		if err := srv.Publish("a/x", []byte(p), false, 1); err != nil {
			t.Fatal(err)
		}
	}
	<-held
	got := make(chan string, 1)
	// The client's next packet identifier is 2, the delivery still unacknowledged.
	err = c.Subscribe(ctx, "b/#", func(_ string, p []byte) { got <- string(p) })
	close(release)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Publish("b/y", []byte("after"), false, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		if p != "after" {
			t.Fatalf("got %q", p)
		}
	case <-time.After(wait):
		t.Fatal("the subscription made while packet 2 was in flight receives nothing")
	}
}
