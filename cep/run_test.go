package cep

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// These tests run the engine with its real goroutines and the time package inside a synctest
// bubble: time is virtual, so minutes pass at once and nothing sleeps for real.

// fakeRecorder is a Recorder whose calls can be held back (gate) or made to fail.
type fakeRecorder struct {
	gate         chan struct{} // when non-nil, RecordHealth waits for a value
	failSummary  int           // the first failSummary RecordSummaries calls fail
	mu           sync.Mutex
	health       []model.HealthSample
	summaries    []model.Summary
	logs         []model.LogEntry
	summaryCalls int
}

func (r *fakeRecorder) RecordHealth(ctx context.Context, b []model.HealthSample) error {
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.health = append(r.health, b...)
	return nil
}

func (r *fakeRecorder) RecordSummaries(_ context.Context, b []model.Summary) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.summaryCalls++
	if r.summaryCalls <= r.failSummary {
		return errors.New("history down")
	}
	r.summaries = append(r.summaries, b...)
	return nil
}

func (r *fakeRecorder) RecordLogs(_ context.Context, b []model.LogEntry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, b...)
	return nil
}

func (r *fakeRecorder) counts() (health, summaries, logs int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.health), len(r.summaries), len(r.logs)
}

// startEngine runs e until the test's bubble ends; stop cancels it and waits for Run.
func startEngine(t *testing.T, e *Engine) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	synctest.Wait()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

// TestRunFaultTiming: under the real tickers, a member that stops publishing gets exactly one
// MemberFaultEvent between 60 s and 65 s after its last event, on every channel.
func TestRunFaultTiming(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var faults []time.Time
		var published []model.Summary
		pub := PublishFunc(func(_ context.Context, s model.Summary) error {
			mu.Lock()
			defer mu.Unlock()
			published = append(published, s)
			return nil
		})
		rec := &fakeRecorder{}
		e, err := New(Options{StartupGrace: 10 * time.Second, Publisher: pub, Recorder: rec})
		if err != nil {
			t.Fatal(err)
		}
		e.Subscribe(func(s model.Summary) {
			if s.Kind == model.MemberFault {
				mu.Lock()
				faults = append(faults, time.Now())
				mu.Unlock()
			}
		})
		stop := startEngine(t, e)
		e.MemberActivated(m1)
		var last time.Time
		for range 8 {
			e.Ingest(health("m1", "ci1", "np1", model.MetricLoadAverage, 1, time.Now().UnixMilli()))
			last = time.Now()
			time.Sleep(15 * time.Second)
		}
		time.Sleep(20 * time.Minute)
		synctest.Wait()
		stop()

		mu.Lock()
		defer mu.Unlock()
		if len(faults) != 1 {
			t.Fatalf("faults = %d, want exactly 1", len(faults))
		}
		if d := faults[0].Sub(last); d <= time.Minute || d > time.Minute+5*time.Second {
			t.Errorf("fault %v after the last event, want within (60s, 65s]", d)
		}
		nPub := 0
		for _, s := range published {
			if s.Kind == model.MemberFault {
				nPub++
			}
		}
		_, nRec, _ := rec.counts()
		if nPub != 1 {
			t.Errorf("published faults = %d, want 1", nPub)
		}
		if nRec != len(published) {
			t.Errorf("history got %d summaries, the bus %d: want the same", nRec, len(published))
		}
	})
}

// TestRunWindows: summaries come once per window, to subscribers, the publisher and history alike.
func TestRunWindows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var subs, pubs []model.Summary
		rec := &fakeRecorder{}
		e, err := New(Options{Recorder: rec, Publisher: PublishFunc(func(_ context.Context, s model.Summary) error {
			mu.Lock()
			defer mu.Unlock()
			pubs = append(pubs, s)
			return nil
		})})
		if err != nil {
			t.Fatal(err)
		}
		e.Subscribe(func(s model.Summary) {
			mu.Lock()
			defer mu.Unlock()
			subs = append(subs, s)
		})
		stop := startEngine(t, e)
		time.Sleep(time.Second)
		for i := range 5 { // at 1, 16, 31, 46 and 61 s: the last one is in the second window
			e.Ingest(health("m1", "ci1", "np1", model.MetricLoadAverage, float64(i), time.Now().UnixMilli()))
			time.Sleep(15 * time.Second)
		}
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		stop()
		mu.Lock()
		defer mu.Unlock()
		windows := 0
		for _, s := range subs {
			if s.Kind == model.MemberAverageLoadAverage {
				windows++
			}
		}
		if windows != 2 {
			t.Errorf("member averages = %d, want 2 (one per window with events)", windows)
		}
		if !slices.Equal(subs, pubs) {
			t.Errorf("subscribers got %d summaries, the publisher %d", len(subs), len(pubs))
		}
		h, s, _ := rec.counts()
		if h != 5 || s != len(subs) {
			t.Errorf("history got %d raw and %d summaries, want 5 and %d", h, s, len(subs))
		}
	})
}

// TestHistorySheds: while history is stuck, raw events beyond the buffer are shed and counted,
// ingest does not block, and every summary reaches history once it recovers, even through errors.
func TestHistorySheds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &fakeRecorder{gate: make(chan struct{}), failSummary: 3}
		e, err := New(Options{Recorder: rec, HistoryBuffer: 100})
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		emitted := 0
		e.Subscribe(func(model.Summary) { mu.Lock(); emitted++; mu.Unlock() })
		stop := startEngine(t, e)

		// The first event wakes the history loop, which then hangs in RecordHealth.
		e.Ingest(health("m0", "ci1", "np1", model.MetricLoadAverage, 1, 0))
		synctest.Wait()
		const n = 1000
		for i := range n {
			e.Ingest(health("m"+string(rune('a'+i%20)), "ci1", "np1", model.MetricLoadAverage, 1, int64(i)))
		}
		st := e.Stats()
		if st.HistoryShed != n-100 || st.RawBacklog != 100 {
			t.Fatalf("shed %d with backlog %d, want %d and 100", st.HistoryShed, st.RawBacklog, n-100)
		}
		// Windows end while history is stuck: summaries queue up.
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		if st := e.Stats(); st.HistoryBacklog == 0 {
			t.Fatal("no summary backlog while history is stuck")
		}
		close(rec.gate) // history recovers (but fails the next 3 summary batches)
		time.Sleep(time.Minute)
		synctest.Wait()
		stop()

		h, s, _ := rec.counts()
		mu.Lock()
		defer mu.Unlock()
		if s != emitted || emitted == 0 {
			t.Errorf("history got %d summaries, %d were emitted", s, emitted)
		}
		if h != 101 {
			t.Errorf("history got %d raw events, want 101 (1 + the buffer)", h)
		}
		st = e.Stats()
		if st.HistoryErrors != 3 || st.HistoryBacklog != 0 {
			t.Errorf("history errors %d backlog %d, want 3 and 0", st.HistoryErrors, st.HistoryBacklog)
		}
	})
}

func TestRunTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, err := New(Options{})
		if err != nil {
			t.Fatal(err)
		}
		stop := startEngine(t, e)
		if err := e.Run(t.Context()); !errors.Is(err, ErrRunning) {
			t.Errorf("second Run: %v, want ErrRunning", err)
		}
		stop()
	})
}
