package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/strata-paas/strata/internal/model"
)

func drain(t *testing.T, s *spool) [][]byte {
	t.Helper()
	var out [][]byte
	var buf []byte
	for {
		p, pos, ok, err := s.peek(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, bytes.Clone(p))
		if err := s.commit(pos); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSpoolOrderAndRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]byte
	for i := range 10 {
		p := []byte(fmt.Sprintf("record %d", i))
		want = append(want, p)
		if err := s.append(p); err != nil {
			t.Fatal(err)
		}
	}
	// Read three, then "restart".
	var buf []byte
	for range 3 {
		_, pos, _, err := s.peek(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.commit(pos); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.append([]byte("after restart")); err != nil {
		t.Fatal(err)
	}
	got := drain(t, s)
	want = append(want[3:], []byte("after restart"))
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if b := s.Bytes(); b != 0 {
		t.Errorf("bytes after drain = %d", b)
	}
}

func TestSpoolTornTail(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"one", "two"} {
		if err := s.append([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	// A crash in the middle of the third append.
	seg := filepath.Join(dir, fmt.Sprintf("%020d.seg", 1))
	f, err := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{40, 0, 0, 0, 1, 2, 3, 4, 'x'})
	f.Close()
	s, err = openSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if s.corrupt != 1 {
		t.Errorf("corrupt = %d, want 1", s.corrupt)
	}
	if err := s.append([]byte("three")); err != nil {
		t.Fatal(err)
	}
	got := drain(t, s)
	if diff := cmp.Diff([][]byte{[]byte("one"), []byte("two"), []byte("three")}, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

func TestSpoolLimitAndSegments(t *testing.T) {
	t.Parallel()
	s, err := openSpool(t.TempDir(), 3*(recordHeader+segmentBytes/2))
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{7}, segmentBytes/2)
	for i := range 3 {
		if err := s.append(big); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if err := s.append([]byte("x")); !errors.Is(err, errSpoolFull) {
		t.Fatalf("append past limit = %v, want errSpoolFull", err)
	}
	if len(s.segs) != 2 {
		t.Errorf("segments = %d, want 2", len(s.segs))
	}
	if got := drain(t, s); len(got) != 3 {
		t.Errorf("drained %d records", len(got))
	}
	if len(s.segs) != 1 {
		t.Errorf("segments after drain = %d, want 1 (read ones removed)", len(s.segs))
	}
}

func sampleBatches(now time.Time) []*batch {
	ms := now.UnixMilli()
	return []*batch{
		{table: tHealth, id: 1, health: []model.HealthSample{{ClusterID: "c", ClusterInstanceID: "ci", NetworkPartitionID: "np",
			MemberID: "m", PartitionID: "p", Metric: model.MetricLoadAverage, Value: 1.5, Timestamp: ms}}},
		{table: tSummaries, id: 2, summaries: []model.Summary{{Kind: model.AverageRequestsInFlight, ClusterID: "c",
			Value: 3, ServedCount: 4, ActiveInstances: 2, Timestamp: ms}}},
		{table: tLogs, id: 3, logs: []model.LogEntry{{Stream: "logs.0.c.2026.01.02", MemberID: "m", Message: "hello",
			Stacktrace: "at x", Timestamp: ms}}},
		{table: tLifecycle, id: 4, lifecycle: []model.LifecycleRecord{{Time: msTime(ms), Entity: "member",
			Event: "topology.MemberActivatedEvent", MemberID: "m", Status: "Active"}}},
		{table: tDecisions, id: 5, decisions: []model.Decision{{ID: "d1", Time: msTime(ms), ClusterID: "c",
			Action: "scale-up", Active: 2, Required: 3, Delta: 1, Trace: json.RawMessage(`{"a":1}`)}}},
	}
}

func TestBatchCodecRoundTrip(t *testing.T) {
	t.Parallel()
	for _, b := range sampleBatches(time.Now()) {
		got, err := decodeBatch(encodeBatch(nil, b))
		if err != nil {
			t.Fatalf("%s: %v", b.table, err)
		}
		b.spooled = true
		if diff := cmp.Diff(b, got, cmp.AllowUnexported(batch{})); diff != "" {
			t.Errorf("%s (-want +got):\n%s", b.table, diff)
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	for _, b := range sampleBatches(time.Unix(1700000000, 0)) {
		f.Add(encodeBatch(nil, b))
	}
	f.Add([]byte{1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := decodeBatch(p)
		if err != nil {
			return
		}
		// What decodes must survive another round trip unchanged.
		again, err := decodeBatch(encodeBatch(nil, b))
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if diff := cmp.Diff(b, again, cmp.AllowUnexported(batch{}), cmpopts.EquateNaNs()); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
	})
}
