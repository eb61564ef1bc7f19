package cep

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-paas/strata/internal/model"
)

func TestQueue(t *testing.T) {
	q := newQueue[int](3)
	if shed := q.push(1, 2); shed != 0 {
		t.Fatalf("shed %d, want 0", shed)
	}
	select {
	case <-q.ready:
	default:
		t.Fatal("no signal when the queue became non-empty")
	}
	if shed := q.push(3, 4, 5); shed != 2 {
		t.Fatalf("shed %d, want 2", shed)
	}
	got := q.take(nil)
	if !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("took %v", got)
	}
	q.push(6)
	q.putBack(got) // undelivered values go first, beyond the limit
	if got := q.take(nil); !slices.Equal(got, []int{1, 2, 3, 6}) {
		t.Fatalf("after putBack took %v, want [1 2 3 6]", got)
	}
	if n, shed := q.stats(); n != 0 || shed != 2 {
		t.Errorf("stats %d %d, want 0 2", n, shed)
	}
	u := newQueue[int](0)
	for i := range 10000 {
		u.push(i)
	}
	if n, shed := u.stats(); n != 10000 || shed != 0 {
		t.Errorf("unbounded queue: %d queued, %d shed", n, shed)
	}
}

func TestCollector(t *testing.T) {
	e := newTestEngine(t, Options{})
	e.Ingest(health("m1", "ci1", "np1", "load_average", 1, 0))
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(e.Collector()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "strata_cep_ingested_total" {
			found = true
			if v := mf.GetMetric()[0].GetCounter().GetValue(); v != 1 {
				t.Errorf("strata_cep_ingested_total = %v, want 1", v)
			}
		}
	}
	if !found || len(mfs) != len(metricDefs) {
		t.Errorf("gathered %d families (ingested found: %v), want %d", len(mfs), found, len(metricDefs))
	}
}

// TestQueueHandOver: an empty queue takes the handed-over slice itself, without a copy, and gives
// back its spare; a queue still holding values appends a copy and gives back the emptied slice.
// Nothing is shed, and the drainer is signalled when the queue becomes non-empty.
func TestQueueHandOver(t *testing.T) {
	q := newQueue[int](0)
	vs := append(make([]int, 0, 8), 1, 2, 3) // room for the values appended below
	next := q.handOver(vs)
	select {
	case <-q.ready:
	default:
		t.Fatal("no signal when the queue became non-empty")
	}
	if len(next) != 0 {
		t.Fatalf("handOver gave back %v, want an empty slice", next)
	}
	next = append(next, 4, 5)
	if again := q.handOver(next); len(again) != 0 || &again[:1][0] != &next[:1][0] {
		t.Errorf("handOver to a non-empty queue gave back %v, want the caller's slice emptied", again)
	}
	got := q.take(nil)
	if !slices.Equal(got, []int{1, 2, 3, 4, 5}) {
		t.Fatalf("took %v, want [1 2 3 4 5]", got)
	}
	if &got[0] != &vs[0] {
		t.Error("the empty queue copied the handed-over values instead of keeping the slice")
	}
	if n, shed := q.stats(); n != 0 || shed != 0 {
		t.Errorf("stats %d %d, want 0 0", n, shed)
	}
}

// TestDeliverHandsOverSummaries: a tick's summaries reach the history queue without a copy: the
// queue holds the engine's slice (issue 17: 600 000 summaries, 70 MB, copied every minute at
// 100 000 members), and the engine goes on with an empty one.
func TestDeliverHandsOverSummaries(t *testing.T) {
	e := newTestEngine(t, Options{Recorder: HistoryRecorder(nopHistory{})})
	e.IngestBatch(workload(100, 10))
	e.mu.Lock()
	e.tickLocked(time.Now().UnixMilli())
	e.mu.Unlock()
	out := e.out
	if len(out) == 0 {
		t.Fatal("no summaries at the window end")
	}
	e.deliver()
	if len(e.out) != 0 {
		t.Fatalf("%d summaries left in the engine after deliver", len(e.out))
	}
	got := e.hist.take(nil)
	if len(got) != len(out) || &got[0] != &out[0] {
		t.Errorf("the history queue holds a copy of the %d summaries, want the engine's slice", len(out))
	}
}

// nopHistory keeps nothing.
type nopHistory struct{}

func (nopHistory) RecordHealth(...model.HealthSample) bool { return true }
func (nopHistory) RecordSummary(model.Summary) bool        { return true }
func (nopHistory) RecordLog(model.LogEntry) bool           { return true }
