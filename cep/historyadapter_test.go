package cep

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/model"
)

var _ historyWriter = (*history.Memory)(nil)

// TestHistoryRecorderMemory hands a window's raw samples, summaries and a log line to the embedded
// history store through HistoryRecorder: the store accepts every one of them.
func TestHistoryRecorderMemory(t *testing.T) {
	mem := history.NewMemory(history.Options{})
	now := time.Now()
	e := newTestEngine(t, Options{Recorder: HistoryRecorder(mem), Clock: clock.NewManual(now)})
	samples := workload(10, 5)
	for round := range 4 {
		for _, s := range samples {
			s.Timestamp = now.UnixMilli() - int64(60000-round*15000)
			e.Ingest(s)
		}
	}
	e.logs.push(model.LogEntry{Stream: "logs.0.a.2026.11.23", MemberID: "m1", Message: "x", Timestamp: now.UnixMilli()})
	e.mu.Lock()
	e.tickLocked(now.UnixMilli())
	e.mu.Unlock()
	nSummaries := weight(e.out)
	e.deliver()
	h := historyState{e: e}
	if !h.drain(t.Context()) {
		t.Fatal("summaries refused")
	}
	st := mem.Stats()
	want := uint64(4*len(samples) + nSummaries + 1)
	if st.Accepted != want || st.Rejected != 0 || st.Dropped != 0 {
		t.Errorf("history stats %+v, want %d accepted and nothing rejected", st, want)
	}
	if es := e.Stats(); es.HistoryShed != 0 || es.HistoryBacklog != 0 || es.HistoryErrors != 0 {
		t.Errorf("engine stats %+v", es)
	}
}

// fullStore refuses every value while full is set, like a store whose queue is full.
type fullStore struct {
	mu        sync.Mutex
	room      int // values it takes before refusing
	summaries []model.Summary
	health    int
}

func (f *fullStore) take() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.room == 0 {
		return false
	}
	f.room--
	return true
}

func (f *fullStore) RecordHealth(s ...model.HealthSample) bool {
	if !f.take() {
		return false
	}
	f.mu.Lock()
	f.health += len(s)
	f.mu.Unlock()
	return true
}

func (f *fullStore) RecordSummary(s model.Summary) bool {
	if !f.take() {
		return false
	}
	f.mu.Lock()
	f.summaries = append(f.summaries, s)
	f.mu.Unlock()
	return true
}

func (f *fullStore) RecordLog(model.LogEntry) bool { return f.take() }

// TestHistoryRecorderPartial: when the store refuses part of a summary batch, only the rest is
// offered again, so every summary is stored exactly once; refused raw samples are counted as shed.
func TestHistoryRecorderPartial(t *testing.T) {
	store := &fullStore{room: 5}
	e := newTestEngine(t, Options{Recorder: HistoryRecorder(store)})
	for i := range 4 {
		e.Ingest(health("m1", "ci1", "np1", model.MetricLoadAverage, float64(i), int64(i)*15000))
	}
	e.mu.Lock()
	e.tickLocked(1)
	e.mu.Unlock()
	emitted := appendSummaries(nil, e.out)
	e.deliver()
	h := historyState{e: e}
	// The store takes 5 values: summaries go first, so 5 of the 6 summaries and no raw sample.
	if h.drain(t.Context()) {
		t.Fatal("drain reported success with a summary refused")
	}
	if st := e.Stats(); st.HistoryBacklog != len(emitted)-5 || st.HistoryShed != 4 {
		t.Fatalf("backlog %d shed %d, want %d and 4", st.HistoryBacklog, st.HistoryShed, len(emitted)-5)
	}
	store.mu.Lock()
	store.room = 100
	store.mu.Unlock()
	if !h.drain(t.Context()) {
		t.Fatal("second drain failed")
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if len(store.summaries) != len(emitted) {
		t.Fatalf("stored %d summaries, emitted %d", len(store.summaries), len(emitted))
	}
	for i := range emitted {
		if store.summaries[i] != emitted[i] {
			t.Errorf("summary %d stored as %+v, emitted %+v", i, store.summaries[i], emitted[i])
		}
	}
}

// TestNonFinite: NaN and infinite samples are refused before they reach a window.
func TestNonFinite(t *testing.T) {
	e := newTestEngine(t, Options{})
	e.Ingest(health("m1", "ci1", "np1", model.MetricLoadAverage, math.NaN(), 0))
	e.Ingest(health("m1", "ci1", "np1", model.MetricLoadAverage, math.Inf(1), 0))
	e.Ingest(health("m1", "ci1", "np1", model.MetricLoadAverage, math.MaxFloat64, 0))
	e.Ingest(health("m1", "ci1", "np1", model.MetricLoadAverage, math.MaxFloat64, 1))
	out := tick(e, 1)
	for _, s := range out {
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			t.Errorf("non-finite summary %+v", s)
		}
	}
	if st := e.Stats(); st.Unknown < 2 {
		t.Errorf("unknown %d, want the two non-finite samples (and the overflowed averages) counted", st.Unknown)
	}
}

// countingWriter is a historyWriter that keeps nothing and refuses every other sample.
type countingWriter struct{ health, refused int }

func (w *countingWriter) RecordHealth(samples ...model.HealthSample) bool {
	w.health += len(samples)
	if w.health%2 == 0 {
		w.refused++
		return false
	}
	return true
}
func (w *countingWriter) RecordSummary(model.Summary) bool { return true }
func (w *countingWriter) RecordLog(model.LogEntry) bool    { return true }

// TestHistoryRecorderAllocs: handing a batch of raw samples to a store costs no allocation per
// sample (a million samples a minute at 100 000 members went to the heap one by one), and the
// refused ones are still counted one by one.
func TestHistoryRecorderAllocs(t *testing.T) {
	w := &countingWriter{}
	r := HistoryRecorder(w)
	batch := workload(500, 100)[:1000]
	var err error
	if allocs := testing.AllocsPerRun(10, func() { err = r.RecordHealth(t.Context(), batch) }); allocs > 1 {
		t.Errorf("RecordHealth of %d samples: %.0f allocations, want at most 1 (the error)", len(batch), allocs)
	}
	if re, ok := errors.AsType[*RefusedError](err); !ok || re.Refused != 500 || re.Accepted != 500 {
		t.Errorf("err = %v, want 500 of 1000 refused", err)
	}
}
