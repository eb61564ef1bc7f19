package cep

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/model"
)

// BenchmarkSteadyMinute is one minute of the CEP in `strata up` at 100 000 members, every one
// publishing its two health samples every 15 s: four rounds of samples in batches of 1 000
// (IngestBatch, as the mock IaaS hands them over), the window end, the summaries delivered to an
// in-process subscriber (the autoscaler) and, with nobody subscribed on the broker (Heard), not
// published, and everything recorded into the embedded history store, full as it is after a
// minute. ns/op is the CPU of the health path per minute; issue 17 wants the whole process under
// 12 s a minute at this size.
func BenchmarkSteadyMinute(b *testing.B) {
	for _, members := range []int{20_000, 100_000} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) {
			store := history.NewMemory(history.Options{})
			published := 0
			e := newTestEngine(b, Options{Recorder: HistoryRecorder(store), Heard: func() bool { return false },
				Publisher: PublishFunc(func(context.Context, model.Summary) error { published++; return nil })})
			delivered := 0
			e.Subscribe(func(model.Summary) { delivered++ })
			samples := workload(members, members)
			h := historyState{e: e}
			ctx := context.Background()
			minute := func(now int64) {
				for range 4 {
					for i := 0; i < len(samples); i += 1000 {
						e.IngestBatch(samples[i:min(i+1000, len(samples))])
					}
					h.drain(ctx) // the history loop runs meanwhile
				}
				e.mu.Lock()
				e.tickLocked(now)
				e.mu.Unlock()
				e.deliver()
				h.drain(ctx)
			}
			now := time.Now().UnixMilli()
			for range 3 { // keys, buffers and the store full, as after the first minutes
				now += 60_000
				minute(now)
			}
			runtime.GC()
			b.ReportAllocs()
			for b.Loop() {
				now += 60_000
				minute(now)
			}
			if published != 0 || delivered == 0 {
				b.Fatalf("%d summaries published with nobody listening, %d delivered", published, delivered)
			}
		})
	}
}
