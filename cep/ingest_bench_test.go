package cep

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/testenv"
)

// BenchmarkIngest measures the §3.2 plan set per event: partitioning by member, key(ci) and
// key(np), the window update, the history hand-off, and the window ends (one every four events per
// member, as with agents publishing every 15 s into 1-minute windows), on one goroutine.
func BenchmarkIngest(b *testing.B) {
	for _, members := range []int{100, 10_000, 100_000} {
		for _, sliding := range []bool{false, true} {
			name := fmt.Sprintf("members=%d/tumbling", members)
			opt := Options{Recorder: &fakeRecorder{}}
			if sliding {
				name = fmt.Sprintf("members=%d/sliding", members)
				opt.Sliding = 15 * time.Second
			}
			b.Run(name, func(b *testing.B) {
				e := newTestEngine(b, opt)
				samples := workload(members, 100)
				perWindow := 4 * len(samples)
				if sliding {
					perWindow = len(samples)
				}
				// Warm up: create every key and grow its buffers, as a running engine has (a sliding
				// window needs a full window of slides before it emits every summary).
				for range 2 + e.buckets {
					for range perWindow / len(samples) {
						for i := range samples {
							e.Ingest(samples[i])
						}
					}
					e.mu.Lock()
					e.raw = e.raw[:0]
					e.mu.Unlock()
					endWindow(e, 0)
				}
				i, n := 0, 0
				runtime.GC() // the set-up's garbage is not the loop's cost
				b.ReportAllocs()
				start, cpu0 := time.Now(), testenv.CPUTime()
				for b.Loop() {
					e.Ingest(samples[i])
					if i++; i == len(samples) {
						i = 0
					}
					if n++; n%perWindow == 0 {
						e.mu.Lock()
						e.raw = e.raw[:0] // history drains in the background in production
						e.mu.Unlock()
						endWindow(e, int64(n))
					} else if n%4096 == 0 {
						e.mu.Lock()
						e.raw = e.raw[:0]
						e.mu.Unlock()
					}
				}
				reportRate(b, n, start, cpu0)
			})
		}
	}
}

// BenchmarkHandleEvents measures the data-bridge path: bundles of decoded events, attribute
// positions resolved once per definition.
func BenchmarkHandleEvents(b *testing.B) {
	for _, c := range []struct{ members, size int }{{10_000, 1}, {10_000, 100}, {100_000, 100}} {
		members, size := c.members, c.size
		b.Run(fmt.Sprintf("members=%d/bundle=%d", members, size), func(b *testing.B) {
			e := newTestEngine(b, Options{})
			samples := workload(members, 100)
			evs := bundle(samples)
			for range 2 {
				for range 4 {
					e.HandleEvents(evs)
				}
				endWindow(e, 0)
			}
			i, n := 0, 0
			runtime.GC()
			b.ReportAllocs()
			start, cpu0 := time.Now(), testenv.CPUTime()
			for b.Loop() {
				if i+size > len(evs) {
					i = 0
				}
				e.HandleEvents(evs[i : i+size])
				i += size
				if n += size; n%(4*len(evs)) < size {
					endWindow(e, int64(n))
				}
			}
			reportRate(b, n, start, cpu0)
		})
	}
}

// BenchmarkState100kMembers reports the heap held by the state of 100 000 watched members with a
// full window each.
func BenchmarkState100kMembers(b *testing.B) {
	var mib float64
	for b.Loop() {
		var e *Engine
		mib, e = load100k(b)
		_ = e.Stats()
	}
	b.ReportMetric(mib, "MiB")
}

// reportRate reports events per wall-clock second and per CPU-second of the process (GC included).
func reportRate(b *testing.B, n int, start time.Time, cpu0 time.Duration) {
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
	if cpu := testenv.CPUTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(n)/cpu.Seconds(), "events/cpu-s")
	}
}

// BenchmarkFaultScan measures one fault scan over 100 000 watched members (the Run goroutine does
// one per FaultCheckInterval, holding the engine lock).
func BenchmarkFaultScan(b *testing.B) {
	_, e := load100k(b)
	e.graceEnd = 0
	now := e.now + 30_000 // every member was seen 30 s ago: the scan finds no fault
	b.ReportAllocs()
	for b.Loop() {
		e.mu.Lock()
		e.scanLocked(now)
		e.mu.Unlock()
	}
}
