package history

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// testNow is the clock of the tests: records are stamped relative to it.
var testNow = time.Now().UTC().Truncate(10 * time.Minute)

func testClock() time.Time { return testNow }

func randomDB(prefix string) string {
	var b [4]byte
	rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// store is what the tests do with either backend: record, query, run, close and read the stats.
type store interface {
	RecordHealth(samples ...model.HealthSample) bool
	RecordSummary(s model.Summary) bool
	RecordLog(e model.LogEntry) bool
	RecordLifecycle(r model.LifecycleRecord) bool
	RecordDecision(d model.Decision) bool
	Health(ctx context.Context, q HealthQuery) ([]Point, error)
	Summaries(ctx context.Context, q SummaryQuery) ([]Point, error)
	Logs(ctx context.Context, q LogQuery) ([]model.LogEntry, error)
	Lifecycle(ctx context.Context, q LifecycleQuery) ([]model.LifecycleRecord, error)
	Decisions(ctx context.Context, q DecisionQuery) ([]model.Decision, error)
	Run(ctx context.Context) error
	Close() error
	Stats() Stats
}

// Both backends have every method of store.
var (
	_ store = (*Memory)(nil)
	_ store = (*ClickHouse)(nil)
)

type backend struct {
	name string
	open func(t *testing.T) store
}

// backends are the two stores, each running until the test ends.
func backends(t *testing.T) []backend {
	return []backend{
		{"memory", func(t *testing.T) store {
			return start(t, NewMemory(Options{Now: testClock}))
		}},
		{"clickhouse", func(t *testing.T) store {
			addr := testenv.ClickHouse(t)
			c, err := NewClickHouse(t.Context(), Options{DSN: "clickhouse://" + addr + "/" + randomDB("q"),
				DataDir: t.TempDir(), BatchSize: 1000, FlushInterval: 20 * time.Millisecond, Now: testClock, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			if !c.ready.Load() {
				t.Fatal("clickhouse not ready after open")
			}
			return start(t, c)
		}},
	}
}

func testLogger(t *testing.T) *slog.Logger { return testenv.Logger(t, slog.LevelInfo) }

// start runs s until the test ends.
func start(t *testing.T, s store) store {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, d, what, cond)
}

// stored waits until the store has written every accepted record.
func stored(t *testing.T, s store) {
	t.Helper()
	waitFor(t, 30*time.Second, "records stored", func() bool {
		st := s.Stats()
		return st.Inserted == st.Accepted && st.Queued == 0 && st.SpoolBytes == 0
	})
}

func at(min, sec int) time.Time {
	return testNow.Add(-time.Hour + time.Duration(min)*time.Minute + time.Duration(sec)*time.Second)
}

type fixture struct {
	health    []model.HealthSample
	summaries []model.Summary
	logs      []model.LogEntry
	lifecycle []model.LifecycleRecord
	decisions []model.Decision
}

// makeFixture: cluster c1 (instance c1-1, members m1 and m2) and c2 (member m3). Health values are
// small integers so averages are exact on both backends.
func makeFixture() fixture {
	var f fixture
	for i := range 12 { // two minutes, one sample per 10 s per member and metric
		ts := at(0, 10*i).UnixMilli()
		for _, m := range []string{"m1", "m2"} {
			f.health = append(f.health,
				model.HealthSample{ClusterID: "c1", ClusterInstanceID: "c1-1", NetworkPartitionID: "np", MemberID: m,
					PartitionID: "p1", Metric: model.MetricLoadAverage, Value: float64(i), Timestamp: ts},
				model.HealthSample{ClusterID: "c1", ClusterInstanceID: "c1-1", NetworkPartitionID: "np", MemberID: m,
					PartitionID: "p1", Metric: model.MetricMemoryConsumption, Value: float64(10 * i), Timestamp: ts})
		}
		f.health = append(f.health,
			model.HealthSample{ClusterID: "c1", ClusterInstanceID: "c1-1", NetworkPartitionID: "np",
				Metric: model.MetricRequestsInFlight, Value: 2, Timestamp: ts},
			model.HealthSample{ClusterID: "c2", ClusterInstanceID: "c2-1", MemberID: "m3",
				Metric: model.MetricLoadAverage, Value: 100, Timestamp: ts})
		f.summaries = append(f.summaries,
			model.Summary{Kind: model.AverageLoadAverage, ClusterID: "c1", ClusterInstanceID: "c1-1", NetworkPartitionID: "np",
				Value: float64(i), Timestamp: ts},
			model.Summary{Kind: model.MemberAverageMemoryConsumption, ClusterID: "c1", ClusterInstanceID: "c1-1",
				MemberID: "m1", Value: 0.5, Timestamp: ts},
			model.Summary{Kind: model.AverageRequestsInFlight, ClusterID: "c1", ClusterInstanceID: "c1-1",
				Value: 4, ServedCount: 10, ActiveInstances: 2, Timestamp: ts})
		f.logs = append(f.logs, model.LogEntry{Stream: "logs.0.c1.2026.11.23", MemberID: []string{"m1", "m2"}[i%2],
			TenantID: "0", LogTime: "2026.11.23", Message: fmt.Sprintf("line %d %s", i, []string{"INFO", "ERROR"}[i%3/2]),
			Instance: "m1", Timestamp: ts})
	}
	f.logs = append(f.logs, model.LogEntry{Stream: "logs.-1234.c2.2026-11-23", MemberID: "m3", Message: "ERROR other cluster",
		Timestamp: at(0, 5).UnixMilli()})
	for i, ev := range []struct{ entity, event, member, status string }{
		{"cluster", "topology.ClusterCreatedEvent", "", "Created"},
		{"member", "topology.MemberCreatedEvent", "m1", "Created"},
		{"member", "topology.MemberInitializedEvent", "m1", "Initialized"},
		{"member", "topology.MemberStartedEvent", "m1", "Starting"},
		{"member", "topology.MemberActivatedEvent", "m1", "Active"},
		{"member", "topology.MemberActivatedEvent", "m2", "Active"},
		{"cluster_instance", "cluster.status.ClusterStatusClusterActivatedEvent", "", "Active"},
	} {
		f.lifecycle = append(f.lifecycle, model.LifecycleRecord{Time: at(0, 5*i), Entity: ev.entity, Event: ev.event,
			ServiceName: "php", ApplicationID: "app1", ClusterID: "c1", ClusterInstanceID: "c1-1",
			NetworkPartitionID: "np", PartitionID: "p1", MemberID: ev.member, Status: ev.status})
	}
	f.lifecycle = append(f.lifecycle, model.LifecycleRecord{Time: at(0, 1), Entity: "member", Event: "topology.MemberCreatedEvent",
		ClusterID: "c2", MemberID: "m3", Status: "Created"})
	for i := range 5 {
		f.decisions = append(f.decisions, model.Decision{ID: fmt.Sprintf("d%d", i), Time: at(i, 0), ClusterID: "c1",
			ClusterInstanceID: "c1-1", NetworkPartitionID: "np", Policy: "economy", Mode: "enforce",
			Action: []string{"none", "scale-up"}[i%2], Active: 2, NonTerminated: 2, Required: 2 + i%2, Delta: i % 2,
			Reason: "load", Trace: json.RawMessage(fmt.Sprintf(`{"rule":"load","predicted":%d}`, 50+i))})
	}
	return f
}

func (f fixture) record(t *testing.T, s store) {
	t.Helper()
	if !s.RecordHealth(f.health...) {
		t.Fatal("health refused")
	}
	for _, r := range f.summaries {
		if !s.RecordSummary(r) {
			t.Fatal("summary refused")
		}
	}
	for _, r := range f.logs {
		if !s.RecordLog(r) {
			t.Fatal("log refused")
		}
	}
	for _, r := range f.lifecycle {
		if !s.RecordLifecycle(r) {
			t.Fatal("lifecycle refused")
		}
	}
	for _, r := range f.decisions {
		if !s.RecordDecision(r) {
			t.Fatal("decision refused")
		}
	}
}

func pt(ts time.Time, metric, cluster, member string, count uint64, lo, hi, avg float64) Point {
	return Point{Time: ts, Metric: metric, ClusterID: cluster, ClusterInstanceID: cluster + "-1", MemberID: member,
		Count: count, Min: lo, Max: hi, Avg: avg}
}

// TestQueries runs the same queries with the same expectations against both backends.
func TestQueries(t *testing.T) {
	t.Parallel()
	f := makeFixture()
	from, to := at(0, 0), at(2, 0)
	load := model.MetricLoadAverage
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			s := be.open(t)
			f.record(t, s)
			stored(t, s)
			ctx := t.Context()

			t.Run("health per member and minute", func(t *testing.T) {
				got, err := s.Health(ctx, HealthQuery{ClusterID: "c1", MemberID: "m1", Metric: load, From: from, To: to, Step: time.Minute})
				check(t, err, []Point{
					pt(at(0, 0), load, "c1", "m1", 6, 0, 5, 2.5),
					pt(at(1, 0), load, "c1", "m1", 6, 6, 11, 8.5),
				}, got)
			})
			t.Run("health per cluster, one step", func(t *testing.T) {
				got, err := s.Health(ctx, HealthQuery{ClusterID: "c1", From: from, To: at(0, 30), Step: 10 * time.Minute})
				bucket := testNow.Add(-time.Hour).Truncate(10 * time.Minute)
				check(t, err, []Point{
					pt(bucket, model.MetricRequestsInFlight, "c1", "", 3, 2, 2, 2),
					pt(bucket, load, "c1", "m1", 3, 0, 2, 1),
					pt(bucket, load, "c1", "m2", 3, 0, 2, 1),
					pt(bucket, model.MetricMemoryConsumption, "c1", "m1", 3, 0, 20, 10),
					pt(bucket, model.MetricMemoryConsumption, "c1", "m2", 3, 0, 20, 10),
				}, got)
			})
			t.Run("health of every cluster", func(t *testing.T) {
				got, err := s.Health(ctx, HealthQuery{Metric: load, From: from, To: to, Step: 2 * time.Minute})
				if err != nil {
					t.Fatal(err)
				}
				var members []string
				for _, p := range got {
					members = append(members, p.ClusterID+"/"+p.MemberID)
				}
				if diff := cmp.Diff([]string{"c1/m1", "c1/m2", "c2/m3"}, dedupe(members)); diff != "" {
					t.Errorf("series (-want +got):\n%s", diff)
				}
			})
			t.Run("summaries of one kind", func(t *testing.T) {
				got, err := s.Summaries(ctx, SummaryQuery{ClusterID: "c1", Kind: model.AverageLoadAverage, From: from, To: to, Step: time.Minute})
				want := []Point{
					pt(at(0, 0), "AverageLoadAverageEvent", "c1", "", 6, 0, 5, 2.5),
					pt(at(1, 0), "AverageLoadAverageEvent", "c1", "", 6, 6, 11, 8.5),
				}
				for i := range want {
					want[i].Kind = model.AverageLoadAverage
				}
				check(t, err, want, got)
			})
			t.Run("summaries of a member", func(t *testing.T) {
				got, err := s.Summaries(ctx, SummaryQuery{MemberID: "m1", From: from, To: to, Step: 2 * time.Minute})
				p := pt(testNow.Add(-time.Hour).Truncate(2*time.Minute), "MemberAverageMemoryConsumptionEvent", "c1", "m1", 12, 0.5, 0.5, 0.5)
				p.Kind = model.MemberAverageMemoryConsumption
				check(t, err, []Point{p}, got)
			})
			t.Run("logs contain, newest kept, oldest first", func(t *testing.T) {
				got, err := s.Logs(ctx, LogQuery{ClusterID: "c1", Contains: "ERROR", Limit: 2})
				if err != nil {
					t.Fatal(err)
				}
				var msgs []string
				for _, e := range got {
					msgs = append(msgs, e.Message)
				}
				check(t, nil, []string{"line 8 ERROR", "line 11 ERROR"}, msgs)
			})
			t.Run("logs of a member in a range", func(t *testing.T) {
				got, err := s.Logs(ctx, LogQuery{MemberID: "m2", From: at(0, 20), To: at(0, 60)})
				want := []model.LogEntry{f.logs[3], f.logs[5]}
				check(t, err, want, got)
			})
			t.Run("logs of the other cluster", func(t *testing.T) {
				got, err := s.Logs(ctx, LogQuery{ClusterID: "c2"})
				check(t, err, f.logs[12:], got)
			})
			t.Run("lifecycle of a member", func(t *testing.T) {
				got, err := s.Lifecycle(ctx, LifecycleQuery{MemberID: "m1"})
				check(t, err, f.lifecycle[1:5], got)
			})
			t.Run("lifecycle of a cluster, limited", func(t *testing.T) {
				got, err := s.Lifecycle(ctx, LifecycleQuery{ClusterID: "c1", Limit: 3})
				check(t, err, f.lifecycle[4:7], got)
			})
			t.Run("decisions with traces", func(t *testing.T) {
				got, err := s.Decisions(ctx, DecisionQuery{ClusterID: "c1", ClusterInstanceID: "c1-1", From: at(1, 0), To: at(4, 0)})
				check(t, err, f.decisions[1:4], got)
			})
			t.Run("invalid queries", func(t *testing.T) {
				if _, err := s.Health(ctx, HealthQuery{From: to, To: from, Step: time.Minute}); err == nil {
					t.Error("from after to accepted")
				}
				if _, err := s.Health(ctx, HealthQuery{Step: 0}); err == nil {
					t.Error("zero step accepted")
				}
				if _, err := s.Logs(ctx, LogQuery{Limit: MaxLimit + 1}); err == nil {
					t.Error("limit over MaxLimit accepted")
				}
			})
		})
	}
}

func dedupe(s []string) []string {
	var out []string
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func check[T any](t *testing.T, err error, want, got T) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestBadInput: the input rules hold on both backends, and a bad record never holds up good ones.
func TestBadInput(t *testing.T) {
	t.Parallel()
	for _, be := range backends(t) {
		t.Run(be.name, func(t *testing.T) {
			s := be.open(t)
			huge := strings.Repeat("x", 1<<20)
			ok := s.RecordLog(model.LogEntry{Stream: "logs.0.bad.2026.11.23", MemberID: "mb", Message: huge, Timestamp: at(0, 1).UnixMilli()})
			ok = s.RecordLog(model.LogEntry{Stream: "logs.0.bad.2026.11.23", MemberID: "mb", Message: "bad \xff\xfe utf8", Timestamp: at(0, 2).UnixMilli()}) && ok
			if !ok {
				t.Fatal("a repairable log line was refused")
			}
			if s.RecordLog(model.LogEntry{Stream: "logs.0.bad.2026.11.23", MemberID: "mb", Message: "1970", Timestamp: 1}) {
				t.Error("1970 accepted")
			}
			if s.RecordHealth(model.HealthSample{ClusterID: "bad", Value: 1, Timestamp: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()}) {
				t.Error("2100 accepted")
			}
			if !s.RecordHealth(model.HealthSample{ClusterID: "bad", Value: 1, Timestamp: at(0, 3).UnixMilli()}) {
				t.Error("good sample refused")
			}
			stored(t, s)
			st := s.Stats()
			if st.Rejected != 2 || st.Truncated != 2 || st.Accepted != 3 {
				t.Errorf("stats %+v, want 2 rejected, 2 truncated, 3 accepted", st)
			}
			logs, err := s.Logs(t.Context(), LogQuery{ClusterID: "bad"})
			if err != nil {
				t.Fatal(err)
			}
			if len(logs) != 2 || len(logs[0].Message) != MaxMessageBytes || logs[1].Message != "bad \uFFFD utf8" {
				t.Errorf("logs: %d lines; first %d bytes; second %q", len(logs), len(logs[0].Message), logs[len(logs)-1].Message)
			}
			pts, err := s.Health(t.Context(), HealthQuery{ClusterID: "bad", Step: time.Hour})
			if err != nil || len(pts) != 1 || pts[0].Count != 1 {
				t.Errorf("health: %v %+v", err, pts)
			}
		})
	}
}
