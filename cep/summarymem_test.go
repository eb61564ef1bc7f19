package cep

import (
	"context"
	"runtime"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// keptBySummaries runs windows of members members, each publishing its two health samples four
// times a window, with the history loop draining as it does in strata up and nobody listening on
// the broker, and returns the live heap that the window ends added, in bytes: the heap after a
// collection at the same point of a window (every window full, before its end) after three
// window ends, less the heap there before the first one. Everything else (member state, windows,
// raw buffers) has reached its size by then, so what remains is what the engine keeps for its
// summaries between ticks (issue 17: 169 MB at 100 000 members).
func keptBySummaries(tb testing.TB, members int) int64 {
	tb.Helper()
	e := newTestEngine(tb, Options{Recorder: HistoryRecorder(nopHistory{}), Heard: func() bool { return false },
		Publisher: PublishFunc(func(context.Context, model.Summary) error { return nil })})
	delivered := 0
	e.Subscribe(func(model.Summary) { delivered++ })
	samples := workload(members, members)
	h := historyState{e: e}
	ctx := context.Background()
	fill := func() {
		for range 4 {
			for i := 0; i < len(samples); i += 1000 {
				e.IngestBatch(samples[i:min(i+1000, len(samples))])
			}
			h.drain(ctx)
		}
	}
	end := func(now int64) {
		e.mu.Lock()
		e.tickLocked(now)
		e.mu.Unlock()
		e.deliver()
		h.drain(ctx)
	}
	now := time.Now().UnixMilli()
	fill()
	before := testenv.LiveHeap()
	for range 3 {
		now += 60_000
		end(now)
		fill()
	}
	after := testenv.LiveHeap()
	runtime.KeepAlive(e) // the engine and the history loop's state are measured, not collected
	runtime.KeepAlive(&h)
	// Six per member, nine per cluster key (seven per key(ci), two per key(np)), three windows.
	if want := 3 * (6*members + 9); delivered != want {
		tb.Fatalf("%d summaries delivered, want %d", delivered, want)
	}
	runtime.KeepAlive(samples)
	return after - before
}

// TestWindowEndKeepsLittle: between two window ends the engine keeps far less than a window's
// summaries as model.Summary values (six of 120 B per member, and the history queue, the engine
// and the history loop each held a slice of them: about 2 200 B per member, 169 MB in the scale
// harness at 100 000 members). The pending summaries are compact and history takes them in
// bounded chunks.
func TestWindowEndKeepsLittle(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 20 000 members")
	}
	const members = 20_000
	kept := keptBySummaries(t, members)
	perMember := float64(kept) / members
	t.Logf("kept by the summaries of %d members: %.1f MB, %.0f B per member", members, float64(kept)/1e6, perMember)
	if perMember > 128 {
		t.Errorf("the window ends keep %.0f B per member between ticks, want at most 128", perMember)
	}
}

// BenchmarkWindowEndKept reports what the window ends keep between ticks (kept-B/member), for
// benchstat before and after a change of the summaries' path.
func BenchmarkWindowEndKept(b *testing.B) {
	const members = 20_000
	var kept int64
	for b.Loop() {
		kept = keptBySummaries(b, members)
	}
	b.ReportMetric(float64(kept)/members, "kept-B/member")
}

// chunkRecorder takes summaries in the batches it is handed, up to room of them in all, and
// refuses the rest of a batch that would go beyond (a RefusedError), as a store whose queue fills.
type chunkRecorder struct {
	nopRecorder
	room    int
	largest int
	stored  []model.Summary
}

func (r *chunkRecorder) RecordSummaries(_ context.Context, b []model.Summary) error {
	r.largest = max(r.largest, len(b))
	n := min(len(b), r.room)
	r.stored = append(r.stored, b[:n]...)
	r.room -= n
	if n < len(b) {
		return &RefusedError{Accepted: n, Refused: len(b) - n}
	}
	return nil
}

// nopRecorder takes raw samples and log lines.
type nopRecorder struct{}

func (nopRecorder) RecordHealth(context.Context, []model.HealthSample) error { return nil }
func (nopRecorder) RecordSummaries(context.Context, []model.Summary) error   { return nil }
func (nopRecorder) RecordLogs(context.Context, []model.LogEntry) error       { return nil }

// TestHistoryChunks: a window end reaches the Recorder in chunks of at most historyChunk
// summaries; when the store refuses in the middle of a later chunk, and in the middle of a key's
// three summaries, the accepted ones are not offered again and the rest are, ahead of the next
// window's: every summary is stored once, in the order emitted.
func TestHistoryChunks(t *testing.T) {
	rec := &chunkRecorder{room: historyChunk + 1000} // in the second chunk, two summaries into a key
	e := newTestEngine(t, Options{Recorder: rec})
	h := historyState{e: e}
	samples := workload(2000, 500)
	var emitted []model.Summary
	for w := range 2 {
		for range 4 {
			e.IngestBatch(samples)
		}
		e.mu.Lock()
		e.tickLocked(int64(w+1) * 60_000)
		e.mu.Unlock()
		emitted = appendSummaries(emitted, e.out)
		e.deliver()
		if w == 0 && h.drain(t.Context()) {
			t.Fatal("drain reported success with summaries refused")
		}
		if got, want := e.Stats().HistoryBacklog, len(emitted)-len(rec.stored); got != want {
			t.Fatalf("window %d: backlog %d, want %d", w, got, want)
		}
	}
	if len(emitted) <= 2*historyChunk+rec.room {
		t.Fatalf("only %d summaries: no third chunk", len(emitted))
	}
	rec.room = len(emitted)
	if !h.drain(t.Context()) {
		t.Fatal("second drain failed")
	}
	if rec.largest > historyChunk {
		t.Errorf("a Recorder call took %d summaries, want at most %d", rec.largest, historyChunk)
	}
	if diff := gocmp.Diff(emitted, rec.stored); diff != "" {
		t.Errorf("stored summaries differ from the emitted ones (-emitted +stored):\n%s", diff)
	}
	if st := e.Stats(); st.HistoryBacklog != 0 || st.HistoryErrors != 1 {
		t.Errorf("backlog %d, history errors %d, want 0 and 1", st.HistoryBacklog, st.HistoryErrors)
	}
}

// TestPublishBufferCountsSummaries: the publish buffer's limit, backlog and shed count are in
// summaries, though a key's three summaries wait together: a key that fits only in part is cut.
func TestPublishBufferCountsSummaries(t *testing.T) {
	e := newTestEngine(t, Options{PublishBuffer: 4,
		Publisher: PublishFunc(func(context.Context, model.Summary) error { return nil })})
	for i := range 4 {
		e.Ingest(health("m1", "ci1", "np1", model.MetricLoadAverage, float64(i), int64(i)*15000))
	}
	e.mu.Lock()
	e.tickLocked(60_000)
	e.mu.Unlock()
	emitted := appendSummaries(nil, e.out)
	if len(emitted) != 6 {
		t.Fatalf("%d summaries, want 6 (three of the member, three of its cluster)", len(emitted))
	}
	e.deliver()
	if st := e.Stats(); st.PublishBacklog != 4 || st.PublishShed != 2 {
		t.Errorf("publish backlog %d, shed %d, want 4 and 2", st.PublishBacklog, st.PublishShed)
	}
	if diff := gocmp.Diff(emitted[:4], appendSummaries(nil, e.pub.take(nil))); diff != "" {
		t.Errorf("queued summaries (-want +got):\n%s", diff)
	}
}
