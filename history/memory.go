package history

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/strata-paas/strata/internal/model"
)

// Memory is the embedded store: it keeps the records of the last Options.Retention in process,
// within Options.MemoryLimitBytes, and answers the same queries as ClickHouse with the same
// results. When a table's rows push the total over the bound, that table's oldest rows go first.
type Memory struct {
	o     Options
	log   *slog.Logger
	c     counters
	rules rules

	mu        sync.RWMutex
	closed    bool
	bytes     int64
	health    window[model.HealthSample]
	summaries window[model.Summary]
	logs      window[model.LogEntry]
	lifecycle window[model.LifecycleRecord]
	decisions window[model.Decision]
}

// NewMemory returns an empty embedded store.
func NewMemory(o Options) *Memory {
	o.setDefaults()
	m := &Memory{o: o, log: o.Logger.With("component", "history", "backend", "memory")}
	m.rules = rules{now: o.Now, retention: o.Retention, c: &m.c}
	return m
}

// window is a FIFO of rows in arrival order with their size estimates.
type window[T any] struct {
	rows  []T
	sizes []int32
	head  int
}

func (w *window[T]) push(r T, size int32) {
	w.rows = append(w.rows, r)
	w.sizes = append(w.sizes, size)
}

func (w *window[T]) len() int { return len(w.rows) - w.head }

// popFront removes the oldest row and returns its size.
func (w *window[T]) popFront() int64 {
	var zero T
	w.rows[w.head] = zero
	n := int64(w.sizes[w.head])
	w.head++
	if w.head > 1024 && w.head*2 > len(w.rows) {
		// Move the live rows to the front of the same arrays. A full store evicts a row for every
		// row in: copying them into new arrays sized to fit made the next append grow them again,
		// two copies and a fresh array of every row each cycle (~1 KB and ~5 µs a row at the
		// bound, the CEP's 600 000 summaries a minute at 100 000 members).
		k := copy(w.rows, w.rows[w.head:])
		clear(w.rows[k:])
		w.rows = w.rows[:k]
		w.sizes = w.sizes[:copy(w.sizes, w.sizes[w.head:])]
		w.head = 0
	}
	return n
}

// live returns the rows in arrival order.
func (w *window[T]) live() []T { return w.rows[w.head:] }

// filter keeps the rows for which keep is true and returns the bytes and rows removed.
func (w *window[T]) filter(keep func(*T) bool) (int64, uint64) {
	var bytes int64
	var n uint64
	j := 0
	rows, sizes := w.rows[w.head:], w.sizes[w.head:]
	for i := range rows {
		if keep(&rows[i]) {
			rows[j], sizes[j] = rows[i], sizes[i]
			j++
		} else {
			bytes += int64(sizes[i])
			n++
		}
	}
	clear(rows[j:])
	w.rows, w.sizes, w.head = rows[:j], sizes[:j], 0
	return bytes, n
}

func strSize(ss ...string) int32 {
	n := 0
	for _, s := range ss {
		n += len(s)
	}
	return int32(n)
}

// add stores one row in w, evicting w's oldest rows while the store is over its bound. m.mu is held.
func add[T any](m *Memory, w *window[T], r T, size int32) bool {
	if m.closed {
		m.c.dropped.Add(1)
		return false
	}
	size += int32(unsafe.Sizeof(r))
	w.push(r, size)
	m.bytes += int64(size)
	for m.bytes > m.o.MemoryLimitBytes && w.len() > 1 {
		m.bytes -= w.popFront()
		m.c.evicted.Add(1)
	}
	m.c.accepted.Add(1)
	m.c.inserted.Add(1)
	return true
}

// RecordHealth stores the samples; it returns false when any was refused.
func (m *Memory) RecordHealth(samples ...model.HealthSample) bool {
	all := true
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range samples {
		if !m.rules.health(&s) {
			all = false
			continue
		}
		sz := strSize(s.ClusterID, s.ClusterInstanceID, s.NetworkPartitionID, s.MemberID, s.PartitionID, s.Metric)
		all = add(m, &m.health, s, sz) && all
	}
	return all
}

// RecordSummary stores one summary.
func (m *Memory) RecordSummary(s model.Summary) bool {
	if !m.rules.summary(&s) {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return add(m, &m.summaries, s, strSize(s.ClusterID, s.ClusterInstanceID, s.NetworkPartitionID, s.MemberID, s.PartitionID))
}

// RecordLog stores one log line.
func (m *Memory) RecordLog(e model.LogEntry) bool {
	if !m.rules.log(&e) {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return add(m, &m.logs, e, strSize(e.Stream, e.MemberID, e.TenantID, e.ServerName, e.AppName, e.LogTime,
		e.Priority, e.Message, e.Logger, e.IP, e.Instance, e.Stacktrace))
}

// RecordLifecycle stores one lifecycle record.
func (m *Memory) RecordLifecycle(r model.LifecycleRecord) bool {
	if !m.rules.lifecycle(&r) {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return add(m, &m.lifecycle, r, strSize(r.Entity, r.Event, r.ServiceName, r.ApplicationID, r.ClusterID,
		r.ClusterInstanceID, r.NetworkPartitionID, r.PartitionID, r.MemberID, r.Status))
}

// RecordDecision stores one decision.
func (m *Memory) RecordDecision(d model.Decision) bool {
	if !m.rules.decision(&d) {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return add(m, &m.decisions, d, strSize(d.ID, d.ClusterID, d.ClusterInstanceID, d.NetworkPartitionID,
		d.Policy, d.Mode, d.Action, d.Reason, string(d.Trace)))
}

// Run evicts rows older than the retention every minute (or every Retention/10 when shorter)
// until ctx ends.
func (m *Memory) Run(ctx context.Context) error {
	every := max(min(time.Minute, m.o.Retention/10), 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			m.evictOld()
		}
	}
}

// evictOld drops rows whose timestamp is older than the retention.
func (m *Memory) evictOld() {
	cut := m.o.Now().Add(-m.o.Retention).UnixMilli()
	m.mu.Lock()
	defer m.mu.Unlock()
	var total int64
	var n uint64
	b, k := m.health.filter(func(r *model.HealthSample) bool { return r.Timestamp >= cut })
	total, n = total+b, n+k
	b, k = m.summaries.filter(func(r *model.Summary) bool { return r.Timestamp >= cut })
	total, n = total+b, n+k
	b, k = m.logs.filter(func(r *model.LogEntry) bool { return r.Timestamp >= cut })
	total, n = total+b, n+k
	b, k = m.lifecycle.filter(func(r *model.LifecycleRecord) bool { return r.Time.UnixMilli() >= cut })
	total, n = total+b, n+k
	b, k = m.decisions.filter(func(r *model.Decision) bool { return r.Time.UnixMilli() >= cut })
	total, n = total+b, n+k
	m.bytes -= total
	m.c.evicted.Add(n)
}

// Close makes later Record calls refuse their records.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// Stats reports the counters.
func (m *Memory) Stats() Stats {
	s := m.c.stats()
	s.Healthy = true
	return s
}

// agg accumulates one series bucket.
type agg struct {
	sum, min, max float64
	count         uint64
}

func (a *agg) add(v float64) {
	if a.count == 0 {
		a.min, a.max = v, v
	}
	a.min, a.max = min(a.min, v), max(a.max, v)
	a.sum += v
	a.count++
}

type seriesKey struct {
	metric                    string
	kind                      model.SummaryKind
	cluster, instance, member string
	bucket                    int64
}

func points(aggs map[seriesKey]*agg) []Point {
	out := make([]Point, 0, len(aggs))
	for k, a := range aggs {
		out = append(out, Point{Time: msTime(k.bucket), Metric: k.metric, Kind: k.kind, ClusterID: k.cluster,
			ClusterInstanceID: k.instance, MemberID: k.member, Count: a.count, Min: a.min, Max: a.max,
			Avg: a.sum / float64(a.count)})
	}
	slices.SortFunc(out, comparePoints)
	return out
}

func comparePoints(a, b Point) int {
	return cmp.Or(cmp.Compare(a.Kind, b.Kind), strings.Compare(a.Metric, b.Metric), strings.Compare(a.ClusterID, b.ClusterID),
		strings.Compare(a.ClusterInstanceID, b.ClusterInstanceID), strings.Compare(a.MemberID, b.MemberID),
		a.Time.Compare(b.Time))
}

func match(want, got string) bool { return want == "" || want == got }

// Health aggregates raw samples per step.
func (m *Memory) Health(ctx context.Context, q HealthQuery) ([]Point, error) {
	sp, step, err := spanStep(q.From, q.To, q.Step)
	if err != nil {
		return nil, err
	}
	aggs := map[seriesKey]*agg{}
	m.mu.RLock()
	for _, r := range m.health.live() {
		if r.Timestamp < sp.from || r.Timestamp >= sp.to || !match(q.ClusterID, r.ClusterID) ||
			!match(q.ClusterInstanceID, r.ClusterInstanceID) || !match(q.MemberID, r.MemberID) || !match(q.Metric, r.Metric) {
			continue
		}
		k := seriesKey{metric: r.Metric, cluster: r.ClusterID, instance: r.ClusterInstanceID, member: r.MemberID, bucket: bucket(r.Timestamp, step)}
		a := aggs[k]
		if a == nil {
			a = &agg{}
			aggs[k] = a
		}
		a.add(r.Value)
	}
	m.mu.RUnlock()
	return points(aggs), nil
}

// Summaries aggregates CEP summaries per step.
func (m *Memory) Summaries(ctx context.Context, q SummaryQuery) ([]Point, error) {
	sp, step, err := spanStep(q.From, q.To, q.Step)
	if err != nil {
		return nil, err
	}
	aggs := map[seriesKey]*agg{}
	m.mu.RLock()
	for _, r := range m.summaries.live() {
		if r.Timestamp < sp.from || r.Timestamp >= sp.to || !match(q.ClusterID, r.ClusterID) ||
			!match(q.ClusterInstanceID, r.ClusterInstanceID) || !match(q.MemberID, r.MemberID) ||
			(q.Kind != 0 && q.Kind != r.Kind) {
			continue
		}
		k := seriesKey{metric: r.Kind.String(), kind: r.Kind, cluster: r.ClusterID, instance: r.ClusterInstanceID, member: r.MemberID,
			bucket: bucket(r.Timestamp, step)}
		a := aggs[k]
		if a == nil {
			a = &agg{}
			aggs[k] = a
		}
		a.add(r.Value)
	}
	m.mu.RUnlock()
	return points(aggs), nil
}

// newest keeps the n greatest rows by cmp and returns them in ascending order.
func newest[T any](rows []T, n int, cmpf func(a, b T) int) []T {
	slices.SortFunc(rows, cmpf)
	if len(rows) > n {
		rows = rows[len(rows)-n:]
	}
	return rows
}

// Logs returns matching log lines.
func (m *Memory) Logs(ctx context.Context, q LogQuery) ([]model.LogEntry, error) {
	sp, n, err := spanLimit(q.From, q.To, q.Limit)
	if err != nil {
		return nil, err
	}
	var out []model.LogEntry
	m.mu.RLock()
	for _, r := range m.logs.live() {
		if r.Timestamp < sp.from || r.Timestamp >= sp.to || !match(q.MemberID, r.MemberID) ||
			(q.ClusterID != "" && streamCluster(r.Stream) != q.ClusterID) ||
			(q.Contains != "" && !strings.Contains(r.Message, q.Contains)) {
			continue
		}
		out = append(out, r)
	}
	m.mu.RUnlock()
	return newest(out, n, compareLogs), nil
}

func compareLogs(a, b model.LogEntry) int {
	return cmp.Or(cmp.Compare(a.Timestamp, b.Timestamp), strings.Compare(a.MemberID, b.MemberID),
		strings.Compare(a.Message, b.Message))
}

// Lifecycle returns matching lifecycle records.
func (m *Memory) Lifecycle(ctx context.Context, q LifecycleQuery) ([]model.LifecycleRecord, error) {
	sp, n, err := spanLimit(q.From, q.To, q.Limit)
	if err != nil {
		return nil, err
	}
	var out []model.LifecycleRecord
	m.mu.RLock()
	for _, r := range m.lifecycle.live() {
		ts := r.Time.UnixMilli()
		if ts < sp.from || ts >= sp.to || !match(q.ClusterID, r.ClusterID) || !match(q.MemberID, r.MemberID) ||
			!match(q.ApplicationID, r.ApplicationID) {
			continue
		}
		out = append(out, r)
	}
	m.mu.RUnlock()
	return newest(out, n, compareLifecycle), nil
}

func compareLifecycle(a, b model.LifecycleRecord) int {
	return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.Entity, b.Entity), strings.Compare(a.ClusterID, b.ClusterID),
		strings.Compare(a.ClusterInstanceID, b.ClusterInstanceID), strings.Compare(a.MemberID, b.MemberID),
		strings.Compare(a.Event, b.Event), strings.Compare(a.Status, b.Status))
}

// Decisions returns matching decisions with their traces.
func (m *Memory) Decisions(ctx context.Context, q DecisionQuery) ([]model.Decision, error) {
	sp, n, err := spanLimit(q.From, q.To, q.Limit)
	if err != nil {
		return nil, err
	}
	var out []model.Decision
	m.mu.RLock()
	for _, r := range m.decisions.live() {
		ts := r.Time.UnixMilli()
		if ts < sp.from || ts >= sp.to || !match(q.ClusterID, r.ClusterID) || !match(q.ClusterInstanceID, r.ClusterInstanceID) {
			continue
		}
		out = append(out, r)
	}
	m.mu.RUnlock()
	return newest(out, n, compareDecisions), nil
}

func compareDecisions(a, b model.Decision) int {
	return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.ID, b.ID))
}
