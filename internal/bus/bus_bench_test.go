package bus

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

func BenchmarkMatch(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		match("topology/#", "topology/MemberActivatedEvent")
		match("instance/+/InstanceStartedEvent", "instance/status/InstanceStartedEvent")
	}
}

// BenchmarkRoundTrip publishes through the embedded broker to one subscriber and waits until
// every message has arrived: end-to-end throughput per QoS.
func BenchmarkRoundTrip(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos%d", qos), func(b *testing.B) {
			br := runBroker(b, BrokerOptions{})
			got := newArrivals()
			sub := runClient(b, Options{URLs: []string{br.URL()}})
			ctx := context.Background()
			if err := sub.Subscribe(ctx, "bench/#", func(string, []byte) { got.add() }); err != nil {
				b.Fatal(err)
			}
			sub.waitFor(b, Connected)
			pub := runClient(b, Options{URLs: []string{br.URL()}})
			pub.waitFor(b, Connected)
			payload := bytes.Repeat([]byte("x"), 120)
			b.ReportAllocs()
			b.ResetTimer()
			n := int64(0)
			for b.Loop() {
				if err := pub.Publish(ctx, "bench/a", payload, qos); err != nil {
					b.Fatal(err)
				}
				n++
			}
			got.await(b, n)
		})
	}
}

// BenchmarkPublishFlush publishes QoS 1 messages through the embedded broker with no subscriber
// and waits until the broker has acknowledged them all: the sender's throughput, which bounds how
// fast the platform's client empties its outbox.
func BenchmarkPublishFlush(b *testing.B) {
	br := runBroker(b, BrokerOptions{})
	pub := runClient(b, Options{URLs: []string{br.URL()}})
	pub.waitFor(b, Connected)
	ctx := context.Background()
	payload := bytes.Repeat([]byte("x"), 300) // a health summary's size
	b.ReportAllocs()
	for b.Loop() {
		if err := pub.Publish(ctx, "bench/a", payload, 1); err != nil {
			b.Fatal(err)
		}
	}
	if err := pub.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLocalEvents publishes member events from one client on the broker of its process to
// the event subscriptions of another (the platform's consumers in `strata up`), waiting until
// every event has been handled: what an event costs the process end to end. The subscriber
// holds as many subscriptions as the platform's client (88 in `strata up`), most of them on
// other topics.
func BenchmarkLocalEvents(b *testing.B) {
	br := runBroker(b, BrokerOptions{})
	ctx := context.Background()
	got := newArrivals()
	sub := runClient(b, Options{URLs: []string{br.URL()}, Local: br})
	for i := range 85 {
		if err := sub.Subscribe(ctx, fmt.Sprintf("topology/Other%dEvent", i), func(string, []byte) {}); err != nil {
			b.Fatal(err)
		}
	}
	topic := model.TopicOf(&model.MemberTerminatedEvent{})
	for range 3 { // three consumers, as the controller, the autoscaler and the load balancer
		if err := sub.SubscribeEvents(ctx, topic, func(string, model.Event) { got.add() }); err != nil {
			b.Fatal(err)
		}
	}
	pub := runClient(b, Options{URLs: []string{br.URL()}, Local: br})
	sub.waitFor(b, Connected)
	pub.waitFor(b, Connected)
	b.ReportAllocs()
	cpu0 := testenv.CPUTime()
	n := int64(0)
	for b.Loop() {
		e := &model.MemberTerminatedEvent{ServiceName: "php", ClusterID: "app.my-php.php.domain",
			ClusterInstanceID: "app-1", MemberID: fmt.Sprintf("app.my-php.php.domain%036d", n),
			NetworkPartitionID: "network-partition-1", PartitionID: "partition-1",
			Properties: model.Properties{"MIN_COUNT": "1"}, GroupID: "g1"}
		if err := pub.PublishEvent(ctx, e); err != nil {
			b.Fatal(err)
		}
		n++
	}
	got.await(b, 3*n)
	b.ReportMetric(float64(testenv.CPUTime()-cpu0)/float64(n), "cpu-ns/op")
}

// arrivals counts the messages a benchmark's handlers took, for it to wait for all of them.
type arrivals struct {
	n       atomic.Int64
	arrived chan struct{} // capacity 1: n grew
}

func newArrivals() *arrivals { return &arrivals{arrived: make(chan struct{}, 1)} }

func (a *arrivals) add() {
	a.n.Add(1)
	select {
	case a.arrived <- struct{}{}:
	default:
	}
}

// await waits until n messages have arrived, failing b after the package's wait.
func (a *arrivals) await(b *testing.B, n int64) {
	timeout := time.After(wait)
	for a.n.Load() < n {
		select {
		case <-a.arrived:
		case <-timeout:
			b.Fatalf("%d of %d arrived", a.n.Load(), n)
		}
	}
}

// BenchmarkCompleteTopology publishes a complete topology of 16 MiB (about 18 000 members) from
// the process to four subscribed clients, waiting until each has read it: what the broker spends
// on the way. The subscribers read through a small buffer, so their side costs nothing more.
func BenchmarkCompleteTopology(b *testing.B) {
	br := runBroker(b, BrokerOptions{})
	topic := model.TopicOf(&model.CompleteTopologyEvent{})
	payload := state(16<<20, 0)
	var subs []*rawSubscriber
	for i := range 4 {
		subs = append(subs, subscribeRaw(b, br.Addrs()[0].String(), fmt.Sprint("agent-", i), topic))
		subs[i].start()
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if err := br.PublishLocal(topic, payload, 1, nil); err != nil {
			b.Fatal(err)
		}
		for _, s := range subs {
			if m := s.next(b); m.size != len(payload) {
				b.Fatalf("a subscriber got %d bytes, want %d", m.size, len(payload))
			}
		}
	}
}

// BenchmarkConnWrite writes a PUBLISH packet of a member event through a client's broker-side
// connection, before any complete state was published (written as it is) and after (each
// PUBLISH is looked at for a stand-in): what the stand-ins cost the rest of the traffic.
func BenchmarkConnWrite(b *testing.B) {
	pkt := publishPacket(model.TopicOf(&model.MemberActivatedEvent{}), strings.Repeat("x", 400))
	for _, used := range []bool{false, true} {
		b.Run(fmt.Sprint("standins=", used), func(b *testing.B) {
			states := &latestStates{}
			states.used.Store(used)
			c := newLimitConn(discardConn{}, DefaultMaxPacketSize, nil, states)
			b.SetBytes(int64(len(pkt)))
			for b.Loop() {
				if _, err := c.Write(pkt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// discardConn is a connection that drops what is written to it.
type discardConn struct{ net.Conn }

func (discardConn) Write(p []byte) (int, error) { return len(p), nil }
