package controller_test

import (
	"context"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/controller/mock"
)

// BenchmarkUndeploy deploys n members through the controller on the mock driver (sharing the
// controller's state file, as `strata up` does) and times RemoveApplicationClusters until every
// member is gone: the cleanup request, each member's maintenance and ready-to-shut-down
// transitions, the terminations and their state writes. It reports the time per member at two
// sizes: an undeploy linear in n has the same figure at both (compare them with benchstat).
func BenchmarkUndeploy(b *testing.B) {
	for _, n := range []int{2000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) { benchUndeploy(b, n) })
	}
}

func benchUndeploy(b *testing.B, n int) {
	for b.Loop() {
		b.StopTimer()
		broker := runBroker(b)
		clock := newFakeClock()
		db, err := bbolt.Open(filepath.Join(b.TempDir(), controller.DefaultStatePath), 0o600, controller.StateOptions(time.Second))
		if err != nil {
			b.Fatal(err)
		}
		mockBus, _ := runClient(b, broker.URL())
		d, err := mock.New(mock.Options{Bus: mockBus, Clock: clock, DB: db, Logger: testLogger(b)})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		watchBus, _ := runClient(b, broker.URL())
		var active, terminated atomic.Int64
		allActive, allGone := make(chan struct{}), make(chan struct{})
		watchBus.Subscribe(ctx, "topology/MemberActivatedEvent", func(string, []byte) {
			if active.Add(1) == int64(n) {
				close(allActive)
			}
		})
		watchBus.Subscribe(ctx, "topology/MemberTerminatedEvent", func(string, []byte) {
			if terminated.Add(1) == int64(n) {
				close(allGone)
			}
		})
		ctrlBus, _ := runClient(b, broker.URL())
		c, stop := runController(b, controller.Options{Bus: ctrlBus, DB: db, Clock: clock,
			Drivers: map[string]controller.Driver{mock.Type: d}, MBURLs: []string{"127.0.0.1:1883"}, CEPURLs: []string{"127.0.0.1:7711"},
			TerminateParallelism: 256, Logger: testLogger(b), Issue: func(context.Context, string) (controller.Credentials, error) {
				return controller.Credentials{MBUsername: "u", MBPassword: "p", CEPUsername: "u", CEPPassword: "p"}, nil
			}})
		seed(b, c)
		startMembers(b, ctx, c, n, 256)
		select {
		case <-allActive:
		case <-time.After(5 * time.Minute):
			b.Fatalf("%d of %d members Active", active.Load(), n)
		}
		b.StartTimer()
		start := time.Now()
		if err := c.RemoveApplicationClusters(ctx, phpSpec.AppID); err != nil {
			b.Fatal(err)
		}
		select {
		case <-allGone:
		case <-time.After(5 * time.Minute):
			b.Fatalf("%d of %d members terminated", terminated.Load(), n)
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/float64(n), "µs/member")
		b.StopTimer()
		stop()
		cancel()
		<-done
		if err := db.Close(); err != nil {
			b.Error(err)
		}
		b.StartTimer()
	}
}
