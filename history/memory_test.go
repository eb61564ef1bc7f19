package history

import (
	"fmt"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/model"
)

func TestMemoryBounds(t *testing.T) {
	t.Parallel()
	t.Run("age", func(t *testing.T) {
		clk := clock.NewManual(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
		m := NewMemory(Options{Retention: time.Hour, Now: clk.Now})
		for i := range 10 {
			m.RecordHealth(model.HealthSample{ClusterID: "c", Metric: "x", Value: float64(i)})
			m.RecordLog(model.LogEntry{Message: "x"})
			clk.Advance(10 * time.Minute)
		}
		// Now 11:40: samples from 10:00..10:30 are older than an hour.
		m.evictOld()
		pts, err := m.Health(t.Context(), HealthQuery{Step: time.Hour * 24})
		if err != nil {
			t.Fatal(err)
		}
		if len(pts) != 1 || pts[0].Count != 6 || pts[0].Min != 4 {
			t.Errorf("after eviction: %+v, want the 6 samples from 10:40 on", pts)
		}
		if st := m.Stats(); st.Evicted != 8 {
			t.Errorf("evicted %d, want 8", st.Evicted)
		}
	})
	t.Run("size", func(t *testing.T) {
		m := NewMemory(Options{MemoryLimitBytes: 64 << 10})
		for i := range 10000 {
			m.RecordLog(model.LogEntry{MemberID: "m", Message: fmt.Sprintf("line %05d", i)})
		}
		m.mu.RLock()
		bytes, n := m.bytes, m.logs.len()
		// Eviction moved the rows it kept, several times: they are the newest, in order.
		for i, e := range m.logs.live() {
			if want := fmt.Sprintf("line %05d", 10000-n+i); e.Message != want {
				t.Fatalf("row %d of %d is %q, want %q", i, n, e.Message, want)
			}
		}
		m.mu.RUnlock()
		if bytes > 64<<10 || n == 0 || n >= 10000 {
			t.Errorf("%d rows in %d bytes, want under the 64 KiB bound", n, bytes)
		}
		logs, err := m.Logs(t.Context(), LogQuery{Limit: 1})
		if err != nil || len(logs) != 1 || logs[0].Message != "line 09999" {
			t.Errorf("newest line: %v %+v", err, logs)
		}
		if st := m.Stats(); st.Evicted != uint64(10000-n) {
			t.Errorf("evicted %d, want %d", st.Evicted, 10000-n)
		}
	})
}
