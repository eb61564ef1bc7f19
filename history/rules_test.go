package history

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/strata-paas/strata/internal/model"
)

func TestRulesTimestamps(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	var c counters
	r := rules{now: func() time.Time { return now }, retention: 7 * 24 * time.Hour, c: &c}
	for _, tc := range []struct {
		name   string
		ts     int64
		ok     bool
		stored int64
	}{
		{name: "unset becomes now", ts: 0, ok: true, stored: now.UnixMilli()},
		{name: "now", ts: now.UnixMilli(), ok: true, stored: now.UnixMilli()},
		{name: "1970", ts: 1, ok: false},
		{name: "2100", ts: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), ok: false},
		{name: "older than retention", ts: now.Add(-8 * 24 * time.Hour).UnixMilli(), ok: false},
		{name: "inside retention", ts: now.Add(-6 * 24 * time.Hour).UnixMilli(), ok: true, stored: now.Add(-6 * 24 * time.Hour).UnixMilli()},
		{name: "a day ahead", ts: now.Add(MaxFutureSkew).UnixMilli(), ok: true, stored: now.Add(MaxFutureSkew).UnixMilli()},
		{name: "more than a day ahead", ts: now.Add(MaxFutureSkew + time.Millisecond).UnixMilli(), ok: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := model.HealthSample{Timestamp: tc.ts, Value: 1}
			if got := r.health(&s); got != tc.ok {
				t.Fatalf("health() = %v, want %v", got, tc.ok)
			}
			if tc.ok && s.Timestamp != tc.stored {
				t.Errorf("stored ts %d, want %d", s.Timestamp, tc.stored)
			}
		})
	}
}

func TestRulesValuesAndStrings(t *testing.T) {
	t.Parallel()
	now := time.Now()
	var c counters
	r := rules{now: func() time.Time { return now }, retention: time.Hour, c: &c}
	if r.health(&model.HealthSample{Value: math.NaN()}) || r.health(&model.HealthSample{Value: math.Inf(1)}) {
		t.Error("NaN/Inf accepted")
	}
	if r.summary(&model.Summary{Kind: 0}) || r.summary(&model.Summary{Kind: 200}) {
		t.Error("unknown summary kind accepted")
	}
	big := model.LogEntry{Message: strings.Repeat("é", 1<<19) + "x", MemberID: "m\xffn"} // 1 MiB + 1
	if !r.log(&big) {
		t.Fatal("big log line refused")
	}
	if len(big.Message) > MaxMessageBytes || !utf8.ValidString(big.Message) || len(big.Message) < MaxMessageBytes-1 {
		t.Errorf("message: %d bytes, valid %v", len(big.Message), utf8.ValidString(big.Message))
	}
	if big.MemberID != "m\uFFFDn" {
		t.Errorf("member id %q, want bad byte replaced", big.MemberID)
	}
	if got := c.truncated.Load(); got != 1 {
		t.Errorf("truncated = %d, want 1", got)
	}
	d := model.Decision{Trace: json.RawMessage("not json \xff")}
	r.decision(&d)
	var s string
	if err := json.Unmarshal(d.Trace, &s); err != nil || s != "not json \uFFFD" {
		t.Errorf("trace %s: %v", d.Trace, err)
	}
	d = model.Decision{Trace: json.RawMessage(`"` + strings.Repeat("a", MaxTraceBytes) + `"`)}
	r.decision(&d)
	if string(d.Trace) != `{"truncated":true,"bytes":262146}` {
		t.Errorf("big trace became %.80s", d.Trace)
	}
}

func TestStreamCluster(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ stream, want string }{
		{"logs.0.php1.php.domain.2026.11.23", "php1.php.domain"},
		{"logs.-1234.app.tomcat.domain.2026-11-23", "app.tomcat.domain"},
		{"logs.0.c.2026.11.23", "c"},
		{"logs.0.2026.11.23", ""},
		{"metrics.0.c.2026.11.23", ""},
		{"logs.0.c.20261123", ""},
		{"", ""},
	} {
		if got := streamCluster(tc.stream); got != tc.want {
			t.Errorf("streamCluster(%q) = %q, want %q", tc.stream, got, tc.want)
		}
	}
}

func TestRecordHealthAllocs(t *testing.T) {
	m := NewMemory(Options{})
	c := newTestWriter(t)
	s := model.HealthSample{ClusterID: "c", MemberID: "m", Metric: model.MetricLoadAverage, Value: 1}
	// Warm up so the buffers have their capacity. (A call through an interface costs one
	// allocation for the variadic slice; callers on a hot path pass a slice they keep.)
	c.RecordHealth(s)
	m.RecordHealth(s)
	if n := testing.AllocsPerRun(100, func() { c.RecordHealth(s) }); n != 0 {
		t.Errorf("ClickHouse: %.1f allocs per RecordHealth", n)
	}
	if n := testing.AllocsPerRun(100, func() { m.RecordHealth(s) }); n > 0.1 {
		t.Errorf("Memory: %.1f allocs per RecordHealth", n)
	}
}

// newTestWriter is a ClickHouse writer whose server is unreachable and that is not running: enough
// to exercise the Record path.
func newTestWriter(t *testing.T) *ClickHouse {
	t.Helper()
	c, err := NewClickHouse(t.Context(), Options{DSN: "clickhouse://127.0.0.1:1/x", DataDir: t.TempDir(), BatchSize: 10000, InsertTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
