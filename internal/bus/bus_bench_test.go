package bus

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
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

// BenchmarkLocalEvents publishes member events from one client on the broker of its process to
// the event subscriptions of another (the platform's consumers in `strata up`), waiting until
// every event has been handled: what an event costs the process end to end.
func BenchmarkLocalEvents(b *testing.B) {
	br := runBroker(b, BrokerOptions{})
	ctx := context.Background()
	var got atomic.Int64
	arrived := make(chan struct{}, 1)
	sub := runClient(b, Options{URLs: []string{br.URL()}, Local: br})
	topic := model.TopicOf(&model.MemberTerminatedEvent{})
	for range 3 { // three consumers, as the controller, the autoscaler and the load balancer
		if err := sub.SubscribeEvents(ctx, topic, func(string, model.Event) {
			got.Add(1)
			select {
			case arrived <- struct{}{}:
			default:
			}
		}); err != nil {
			b.Fatal(err)
		}
	}
	pub := runClient(b, Options{URLs: []string{br.URL()}, Local: br})
	sub.waitFor(b, Connected)
	pub.waitFor(b, Connected)
	b.ReportAllocs()
	cpu0 := processCPU(b)
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
	timeout := time.After(wait)
	for got.Load() < 3*n {
		select {
		case <-arrived:
		case <-timeout:
			b.Fatalf("%d of %d handled", got.Load(), 3*n)
		}
	}
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(n), "cpu-ns/op")
}

// processCPU is the CPU time the process has used, user and system, in ns: what a benchmark
// whose work runs on several goroutines costs, where sec/op is only its wall time.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
