package controller_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/controller/mock"
)

// BenchmarkController10k starts 10 000 members through the controller on the mock driver, over
// the embedded broker, and waits until every one is Active (each member: 4 topology events from
// the controller, 2 instance events from the mock, and a state write), then publishes the
// complete topology once. It reports the time per member and the size of the complete topology.
func BenchmarkController10k(b *testing.B) {
	const n = 10000
	for b.Loop() {
		b.StopTimer()
		broker := runBroker(b)
		clock := newFakeClock()
		mockBus, _ := runClient(b, broker.URL())
		d, err := mock.New(mock.Options{Bus: mockBus, Clock: clock, Logger: testLogger(b)})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		watchBus, _ := runClient(b, broker.URL())
		var active atomic.Int64
		all := make(chan struct{})
		var topoSize atomic.Int64
		topo := make(chan struct{}, 1)
		watchBus.Subscribe(ctx, "topology/MemberActivatedEvent", func(string, []byte) {
			if active.Add(1) == n {
				close(all)
			}
		})
		watchBus.Subscribe(ctx, "topology/CompleteTopologyEvent", func(_ string, body []byte) {
			topoSize.Store(int64(len(body)))
			select {
			case topo <- struct{}{}:
			default:
			}
		})
		ctrlBus, _ := runClient(b, broker.URL())
		c, stop := runController(b, controller.Options{Bus: ctrlBus, DataDir: b.TempDir(), Clock: clock,
			Drivers: map[string]controller.Driver{mock.Type: d}, MBURLs: []string{"127.0.0.1:1883"}, CEPURLs: []string{"127.0.0.1:7711"},
			Logger: testLogger(b), Issue: func(context.Context, string) (controller.Credentials, error) {
				return controller.Credentials{MBUsername: "u", MBPassword: "p", CEPUsername: "u", CEPPassword: "p"}, nil
			}})
		seed(b, c)
		b.StartTimer()
		start := time.Now()
		startMembers(b, ctx, c, n, 64)
		started := time.Since(start)
		select {
		case <-all:
		case <-time.After(5 * time.Minute):
			b.Fatalf("%d of %d members active", active.Load(), n)
		}
		activeAfter := time.Since(start)
		<-topo // the one published when Run started
		clock.Advance(controller.DefaultSyncInterval)
		<-topo
		b.StopTimer()
		b.ReportMetric(float64(started.Microseconds())/n, "µs-start/member")
		b.ReportMetric(float64(activeAfter.Microseconds())/n, "µs-active/member")
		b.ReportMetric(float64(topoSize.Load())/1e6, "MB-topology")
		stop()
		cancel()
		<-done
		b.StartTimer()
	}
}
