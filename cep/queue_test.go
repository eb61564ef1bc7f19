package cep

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
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
