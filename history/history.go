package history

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// Defaults of Options.
const (
	DefaultBatchSize        = 10000
	DefaultFlushInterval    = time.Second
	DefaultQueueBatches     = 4
	DefaultSpoolLimitBytes  = 1 << 30
	DefaultRetention        = 7 * 24 * time.Hour
	DefaultMemoryLimitBytes = 64 << 20
	DefaultInsertTimeout    = 10 * time.Second
	DefaultDatabase         = "strata"
)

// Options configure a store. Zero fields take the defaults above.
type Options struct {
	// DSN selects ClickHouse: clickhouse://[user[:password]@]host:9000/database[?options] in the
	// form clickhouse-go accepts. Empty selects the embedded Memory store.
	DSN string
	// DataDir holds the spool (DataDir/history-spool). Required for ClickHouse.
	DataDir string
	// BatchSize is the number of rows of one table that makes a batch; a batch is also sealed
	// every FlushInterval when it is not empty.
	BatchSize     int
	FlushInterval time.Duration
	// QueueBatches is how many sealed batches wait in memory for ClickHouse before further
	// batches go to the spool instead.
	QueueBatches int
	// SpoolLimitBytes bounds the spool; batches that do not fit are dropped and counted.
	SpoolLimitBytes int64
	// Retention is how long rows are kept, and how old a record may be to be accepted.
	Retention time.Duration
	// MemoryLimitBytes bounds the embedded store (an estimate of the bytes its rows hold).
	MemoryLimitBytes int64
	// InsertTimeout bounds one insert; a slower insert counts as failed and its batch is spooled.
	InsertTimeout time.Duration
	Logger        *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.QueueBatches <= 0 {
		o.QueueBatches = DefaultQueueBatches
	}
	if o.SpoolLimitBytes <= 0 {
		o.SpoolLimitBytes = DefaultSpoolLimitBytes
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.MemoryLimitBytes <= 0 {
		o.MemoryLimitBytes = DefaultMemoryLimitBytes
	}
	if o.InsertTimeout <= 0 {
		o.InsertTimeout = DefaultInsertTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// ErrInvalidQuery is returned (wrapped) for a query with a bad range, step or limit.
var ErrInvalidQuery = errors.New("history: invalid query")

// Query limits.
const (
	DefaultLimit = 100
	MaxLimit     = 10000
	// MaxPoints bounds the buckets of one series: (To-From)/Step.
	MaxPoints = 10000
)

// HealthQuery selects raw health samples. Empty ids match any. From is inclusive and To exclusive;
// a zero From or To leaves that end open. Step is the bucket width (at least 1 ms); buckets start
// at multiples of Step since the Unix epoch.
type HealthQuery struct {
	ClusterID         string
	ClusterInstanceID string
	MemberID          string
	Metric            string // e.g. model.MetricLoadAverage
	From, To          time.Time
	Step              time.Duration
}

// SummaryQuery selects CEP summaries like HealthQuery; Kind 0 matches every kind.
type SummaryQuery struct {
	ClusterID         string
	ClusterInstanceID string
	MemberID          string
	Kind              model.SummaryKind
	From, To          time.Time
	Step              time.Duration
}

// Point aggregates the values of one series in one step. A series is one metric (health) or kind
// (summaries) of one cluster instance and member (MemberID is empty for cluster-level values).
// Points come sorted by Kind, Metric, ClusterID, ClusterInstanceID, MemberID and
// Time. Only steps holding values appear.
type Point struct {
	Time              time.Time         `json:"time"`   // start of the step, UTC
	Metric            string            `json:"metric"` // health metric, or the summary kind's String()
	Kind              model.SummaryKind `json:"kind"`
	ClusterID         string            `json:"clusterId"`
	ClusterInstanceID string            `json:"clusterInstanceId"`
	MemberID          string            `json:"memberId"`
	Count             uint64            `json:"count"`
	Min               float64           `json:"min"`
	Max               float64           `json:"max"`
	Avg               float64           `json:"avg"`
}

// LogQuery selects log lines. Contains matches a case-sensitive substring of the message. The
// newest Limit lines (DefaultLimit when 0, at most MaxLimit) come back oldest first.
type LogQuery struct {
	ClusterID string // matched against the alias in the stream name (see doc.go)
	MemberID  string
	Contains  string
	From, To  time.Time
	Limit     int
}

// LifecycleQuery selects lifecycle records; the newest Limit come back oldest first.
type LifecycleQuery struct {
	ClusterID     string
	MemberID      string
	ApplicationID string
	From, To      time.Time
	Limit         int
}

// DecisionQuery selects autoscaler decisions with their traces; the newest Limit come back oldest
// first.
type DecisionQuery struct {
	ClusterID         string
	ClusterInstanceID string
	From, To          time.Time
	Limit             int
}

// span is a validated time range in ms: [from, to).
type span struct{ from, to int64 }

func makeSpan(from, to time.Time) (span, error) {
	s := span{from: minMs, to: maxMs}
	if !from.IsZero() {
		s.from = from.UnixMilli()
	}
	if !to.IsZero() {
		s.to = to.UnixMilli()
	}
	if s.from >= s.to {
		return s, fmt.Errorf("%w: from %v is not before to %v", ErrInvalidQuery, from, to)
	}
	return s, nil
}

// The open ends of a span: the timestamps the rules accept lie well inside.
const (
	minMs int64 = -1 << 62
	maxMs int64 = 1 << 62
)

// spanStep checks an aggregation query's span and step (in ms).
func spanStep(from, to time.Time, step time.Duration) (span, int64, error) {
	s, err := makeSpan(from, to)
	if err != nil {
		return s, 0, err
	}
	ms := step.Milliseconds()
	if ms < 1 {
		return s, 0, fmt.Errorf("%w: step %v is under 1ms", ErrInvalidQuery, step)
	}
	if s.from != minMs && s.to != maxMs && (s.to-s.from)/ms > MaxPoints {
		return s, 0, fmt.Errorf("%w: more than %d steps", ErrInvalidQuery, MaxPoints)
	}
	return s, ms, nil
}

// spanLimit checks a listing query's span and limit (0: DefaultLimit).
func spanLimit(from, to time.Time, n int) (span, int, error) {
	s, err := makeSpan(from, to)
	switch {
	case err != nil:
		return s, 0, err
	case n == 0:
		return s, DefaultLimit, nil
	case n < 0 || n > MaxLimit:
		return s, 0, fmt.Errorf("%w: limit %d not in 1..%d", ErrInvalidQuery, n, MaxLimit)
	}
	return s, n, nil
}

// bucket floors ms to a multiple of step (also for negative ms).
func bucket(ms, step int64) int64 {
	b := ms / step * step
	if ms < 0 && b != ms {
		b -= step
	}
	return b
}

// Stats counts what a store did since it opened. Rows are counted, not batches, unless named.
type Stats struct {
	Accepted  uint64 // records taken by a Record method
	Rejected  uint64 // records refused by the rules (bad time, value or kind)
	Truncated uint64 // records stored with a string cut or repaired (see doc.go)
	Dropped   uint64 // records refused because the in-memory queue was full or the store closed
	Inserted  uint64 // rows written to ClickHouse (or stored in memory)
	Batches   uint64 // batches written to ClickHouse
	Failures  uint64 // failed insert attempts
	// Spool.
	Spooled      uint64 // rows written to the spool
	Replayed     uint64 // rows inserted from the spool
	Duplicates   uint64 // spooled rows found already in ClickHouse and not inserted again (Inserted+Duplicates rows are stored)
	SpoolDropped uint64 // rows dropped because the spool was full or unwritable
	DeadLetter   uint64 // rows of batches ClickHouse refused for good (kept in DataDir, see doc.go)
	Corrupt      uint64 // spool records skipped as unreadable
	SpoolBytes   int64  // unread bytes in the spool
	// Memory.
	Evicted uint64 // rows evicted by age or by the size bound
	Queued  int64  // rows held in memory on their way to ClickHouse
	Healthy bool   // the last insert succeeded
}

type counters struct {
	accepted, rejected, truncated, dropped, inserted, batches, failures atomic.Uint64
	spooled, replayed, duplicates, spoolDropped, deadLetter, corrupt    atomic.Uint64
	evicted                                                             atomic.Uint64
	queued                                                              atomic.Int64
}

func (c *counters) stats() Stats {
	return Stats{
		Accepted: c.accepted.Load(), Rejected: c.rejected.Load(), Truncated: c.truncated.Load(),
		Dropped: c.dropped.Load(), Inserted: c.inserted.Load(), Batches: c.batches.Load(),
		Failures: c.failures.Load(), Spooled: c.spooled.Load(), Replayed: c.replayed.Load(),
		Duplicates: c.duplicates.Load(), SpoolDropped: c.spoolDropped.Load(),
		DeadLetter: c.deadLetter.Load(), Corrupt: c.corrupt.Load(), Evicted: c.evicted.Load(),
		Queued: c.queued.Load(),
	}
}
