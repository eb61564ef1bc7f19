package cep

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// TestPublishOnlyWhenHeard: while Options.Heard says nobody listens, a window's summaries reach
// the in-process subscribers and history but not the Publisher (counted as unheard); once
// someone listens, the next window's are published.
func TestPublishOnlyWhenHeard(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var heard atomic.Bool
		var mu sync.Mutex
		published := 0
		pub := PublishFunc(func(context.Context, model.Summary) error {
			mu.Lock()
			published++
			mu.Unlock()
			return nil
		})
		rec := &fakeRecorder{}
		e, err := New(Options{Publisher: pub, Recorder: rec, Heard: heard.Load})
		if err != nil {
			t.Fatal(err)
		}
		var subscribed atomic.Int64
		e.Subscribe(func(model.Summary) { subscribed.Add(1) })
		stop := startEngine(t, e)
		defer stop()
		window := func() {
			for range 4 {
				for _, m := range []string{"m1", "m2"} {
					e.Ingest(health(m, "ci1", "np1", model.MetricLoadAverage, 1, time.Now().UnixMilli()))
					e.Ingest(health(m, "ci1", "np1", model.MetricMemoryConsumption, 1, time.Now().UnixMilli()))
				}
				time.Sleep(15 * time.Second)
			}
			synctest.Wait()
		}
		window()
		st := e.Stats()
		mu.Lock()
		got := published
		mu.Unlock()
		if st.Summaries == 0 || got != 0 || st.PublishUnheard != st.Summaries {
			t.Fatalf("nobody listening: %d summaries, %d published, %d unheard; want none published, every one unheard", st.Summaries, got, st.PublishUnheard)
		}
		if _, nRec, _ := rec.counts(); uint64(nRec) != st.Summaries || uint64(subscribed.Load()) != st.Summaries {
			t.Fatalf("history got %d and the subscriber %d of %d summaries, want every one", nRec, subscribed.Load(), st.Summaries)
		}
		heard.Store(true)
		before := st.Summaries
		window()
		st = e.Stats()
		mu.Lock()
		got = published
		mu.Unlock()
		if want := st.Summaries - before; want == 0 || uint64(got) != want || st.PublishUnheard != before {
			t.Fatalf("someone listening: %d published of the window's %d summaries, %d unheard (want %d)", got, want, st.PublishUnheard, before)
		}
	})
}
