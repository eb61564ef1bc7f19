package bus

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
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
			var got atomic.Int64
			arrived := make(chan struct{}, 1)
			sub := runClient(b, Options{URLs: []string{br.URL()}})
			ctx := context.Background()
			if err := sub.Subscribe(ctx, "bench/#", func(string, []byte) {
				got.Add(1)
				select {
				case arrived <- struct{}{}:
				default:
				}
			}); err != nil {
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
			timeout := time.After(wait)
			for got.Load() < n {
				select {
				case <-arrived:
				case <-timeout:
					b.Fatalf("%d of %d arrived", got.Load(), n)
				}
			}
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
