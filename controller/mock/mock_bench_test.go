package mock

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/strata-paas/strata/cep"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// BenchmarkMockHealth measures one health tick of n simulated instances (every instance due, two
// samples each, bundles of DefaultBatchSize). "cep" hands each batch to cep.Engine.IngestBatch,
// as `strata up` wires it (in process); "thrift" publishes through a real data-bridge client to a
// real data-bridge server (the secure service over TLS) in the same process, so its
// cpu-ns/member includes the receiver decoding the bundles; "discard" hands the samples to a
// function that drops them, which is the mock's own cost. Metrics: ns/member is the wall time of
// a tick per instance, cpu-ns/member the process CPU (user+system) per instance and tick, and
// cpu-%/100k@15s the share of one core that 100 000 instances publishing every 15 s need.
func BenchmarkMockHealth(b *testing.B) {
	for _, n := range []int{10000, 100000} {
		for _, transport := range []string{"discard", "cep", "thrift"} {
			b.Run(fmt.Sprintf("members=%d/%s", n, transport), func(b *testing.B) {
				publish := PublishFunc(func(context.Context, []model.HealthSample) error { return nil })
				switch transport {
				case "thrift":
					_, client := startReceiver(b, false)
					publish = thriftPublish(client)
				case "cep":
					engine, err := cep.New(cep.Options{Logger: discard})
					if err != nil {
						b.Fatal(err)
					}
					publish = func(_ context.Context, s []model.HealthSample) error {
						engine.IngestBatch(s)
						return nil
					}
				}
				clock := newFakeClock()
				d, err := New(Options{Bus: newFakeBus(), Clock: clock, Publish: publish, Logger: discard,
					Patterns: map[string][]Pattern{"php": {
						{Factor: MemoryConsumption, Values: []float64{60, 60, 10}, Duration: time.Minute, Mode: Loop},
						{Factor: LoadAverage, Values: []float64{40, 20}, Duration: time.Minute, Mode: Loop},
					}}})
				if err != nil {
					b.Fatal(err)
				}
				for i := range n {
					startInstance(b, d, fmt.Sprintf("app1.php1.php.domain%036d", i), "php")
				}
				ctx := context.Background()
				now := clock.Now()
				d.publishDue(ctx, now) // warm up: connect, define the stream, size the buffer
				b.ReportAllocs()
				cpu0 := testenv.CPUTime()
				start := time.Now()
				ticks := 0
				for b.Loop() {
					now = now.Add(DefaultInterval)
					d.publishDue(ctx, now)
					ticks++
				}
				wall := time.Since(start)
				cpu := testenv.CPUTime() - cpu0
				if s := d.Stats(); s.PublishErrors != 0 {
					b.Fatalf("publish errors: %+v", s)
				}
				perMember := float64(cpu.Nanoseconds()) / float64(ticks*n)
				b.ReportMetric(float64(wall.Nanoseconds())/float64(ticks*n), "ns/member")
				b.ReportMetric(perMember, "cpu-ns/member")
				b.ReportMetric(perMember*100000/float64(DefaultInterval.Nanoseconds())*100, "cpu-%/100k@15s")
			})
		}
	}
}

// BenchmarkMockTickNoneDue is a health tick (or a new instance's kick) of n instances of which
// none is due, as at most ticks between two publications: its cost should not grow with n
// (a scan of every instance at every tick and kick made a deployment of N mock members N² work).
func BenchmarkMockTickNoneDue(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			clock := newFakeClock()
			d, err := New(Options{Bus: newFakeBus(), Clock: clock, Logger: discard,
				Publish: func(context.Context, []model.HealthSample) error { return nil }})
			if err != nil {
				b.Fatal(err)
			}
			for i := range n {
				startInstance(b, d, fmt.Sprintf("app1.php1.php.domain%036d", i), "php")
			}
			ctx := context.Background()
			now := clock.Now()
			d.publishDue(ctx, now) // every instance's first health: the next is due in DefaultInterval
			b.ReportAllocs()
			for b.Loop() {
				d.publishDue(ctx, now)
			}
			if s := d.Stats(); s.Samples == 0 {
				b.Fatal("no health was published")
			}
		})
	}
}
