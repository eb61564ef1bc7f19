package app

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strata-paas/strata/cep"
	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/controller/mock"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
)

// quietBus is a bus nobody else is on: the mock driver subscribes and publishes into nothing.
type quietBus struct{}

func (quietBus) PublishEvent(context.Context, model.Event) error { return nil }
func (quietBus) SubscribeEvents(context.Context, string, bus.EventHandler) error {
	return nil
}

// TestMockDefaultHealthKeepsMembers runs, in virtual time, the mock IaaS with `strata up`'s
// default flags (no pattern file, health every 15 s) publishing into the CEP in process, as
// newPlatform wires it, with the CEP's default fault timeout. For 10 minutes every one of three
// members reports memory consumption and load average every 15 s, and the CEP never declares one
// faulty (before the default patterns, mock members published nothing and were replaced every
// fault timeout, forever).
func TestMockDefaultHealthKeepsMembers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		var (
			mu     sync.Mutex
			faults []model.Summary
			seen   = map[string][]time.Time{} // member/metric -> sample times
		)
		engine, err := cep.New(cep.Options{Publisher: cep.PublishFunc(func(_ context.Context, s model.Summary) error {
			if s.Kind == model.MemberFault {
				mu.Lock()
				faults = append(faults, s)
				mu.Unlock()
			}
			return nil
		})})
		if err != nil {
			t.Fatal(err)
		}
		d, err := mock.New(mock.Options{Bus: quietBus{}, Publish: func(_ context.Context, samples []model.HealthSample) error {
			mu.Lock()
			for _, s := range samples {
				k := s.MemberID + "/" + s.Metric
				seen[k] = append(seen[k], time.UnixMilli(s.Timestamp))
			}
			mu.Unlock()
			engine.IngestBatch(samples)
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() { _ = engine.Run(ctx) })
		wg.Go(func() { _ = d.Run(ctx) })
		<-d.Subscribed()
		start := time.Now()
		var members []string
		for i := range 3 {
			m := cep.Member{ClusterID: "app.php1.php.domain", ClusterInstanceID: "app-1", NetworkPartitionID: "np1",
				PartitionID: "p1", MemberID: fmt.Sprintf("app.php1.php.domain%d", i)}
			if _, err := d.Start(ctx, controller.Instance{MemberID: m.MemberID, ClusterID: m.ClusterID,
				ClusterInstanceID: m.ClusterInstanceID, ServiceName: "php", NetworkPartitionID: m.NetworkPartitionID,
				PartitionID: m.PartitionID}); err != nil {
				t.Fatal(err)
			}
			engine.MemberActivated(m)
			members = append(members, m.MemberID)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()

		mu.Lock()
		defer mu.Unlock()
		if len(faults) > 0 {
			t.Errorf("%d member faults in 10 minutes, want none; first: %+v", len(faults), faults[0])
		}
		list, _ := d.List(ctx)
		if len(list) != 3 {
			t.Errorf("the mock runs %d instances, want the 3 started", len(list))
		}
		for _, m := range members {
			for _, metric := range []string{model.MetricMemoryConsumption, model.MetricLoadAverage} {
				times := seen[m+"/"+metric]
				if len(times) < 40 {
					t.Errorf("%s: %d %s samples in 10 minutes, want one every 15 s (41)", m, len(times), metric)
					continue
				}
				if !times[0].Equal(start) {
					t.Errorf("%s: first %s sample at +%v, want at once", m, metric, times[0].Sub(start))
				}
				for i := 1; i < len(times); i++ {
					if gap := times[i].Sub(times[i-1]); gap != 15*time.Second {
						t.Errorf("%s: %s samples %d and %d are %v apart, want 15s", m, metric, i-1, i, gap)
						break
					}
				}
			}
		}
		cancel()
		wg.Wait()
	})
}
