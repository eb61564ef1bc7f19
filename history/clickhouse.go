package history

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/strata-paas/strata/internal/model"
)

// ClickHouse writes records to ClickHouse in batches, spools batches it cannot write to disk and
// replays them in order, and answers queries from the server. See doc.go for the data flow.
type ClickHouse struct {
	o     Options
	log   *slog.Logger
	c     counters
	rules rules
	conn  driver.Conn
	db    string
	spool *spool
	dead  string // dead-letter directory

	maxPending int           // rows a table buffer holds before Record refuses
	kick       chan struct{} // a buffer reached BatchSize
	nextID     atomic.Uint64 // batch ids: random start, then +1
	queryN     atomic.Uint64 // insert attempts, for query ids
	running    atomic.Bool

	health    buffer[model.HealthSample]
	summaries buffer[model.Summary]
	logs      buffer[model.LogEntry]
	lifecycle buffer[model.LifecycleRecord]
	decisions buffer[model.Decision]

	// Sender state. Lock order: qmu, then spool.mu. Buffer locks are leaves.
	qmu      sync.Mutex
	queue    []*batch // sealed batches waiting in memory, oldest first; queue[0] may be in flight
	healthy  bool     // the last insert (or setup) succeeded
	lastDrop time.Time
	wake     chan struct{} // the sender has work

	single bool // sender only: replay one spooled batch at a time (after a refused batch)

	ready atomic.Bool // schema checked; features known
	feat  features    // set by setup, read by the sender goroutine and by queries after ready
	fmu   sync.Mutex  // guards setup
}

// minPending is the least number of rows a table buffer holds before Record refuses records, so a
// burst is absorbed even with a small BatchSize.
const minPending = 16384

// buffer collects the rows of one table until the sealer takes them.
type buffer[T any] struct {
	mu     sync.Mutex
	rows   []T
	closed bool
}

// NewClickHouse opens the spool in o.DataDir and connects to the server o.DSN names. A server that
// cannot be reached is not an error: records are spooled until it answers, and the schema is
// migrated then.
func NewClickHouse(ctx context.Context, o Options) (*ClickHouse, error) {
	o.setDefaults()
	if o.DataDir == "" {
		return nil, errors.New("history: DataDir is required with ClickHouse")
	}
	copts, err := clickhouse.ParseDSN(o.DSN)
	if err != nil {
		return nil, fmt.Errorf("parse clickhouse dsn: %w", err)
	}
	db := copts.Auth.Database
	if db == "" || db == "default" && !strings.Contains(o.DSN, "/default") {
		db = DefaultDatabase
	}
	if !validIdent(db) {
		return nil, fmt.Errorf("history: database name %q: use letters, digits and _", db)
	}
	// The database may not exist yet: connect to default and name db in every statement.
	copts.Auth.Database = "default"
	if copts.DialTimeout == 0 || copts.DialTimeout > 5*time.Second {
		copts.DialTimeout = 2 * time.Second
	}
	copts.ReadTimeout = o.InsertTimeout
	if copts.MaxOpenConns == 0 {
		copts.MaxOpenConns = 8
	}
	conn, err := clickhouse.Open(copts)
	if err != nil {
		return nil, fmt.Errorf("open clickhouse: %w", err)
	}
	dir := filepath.Join(o.DataDir, "history-spool")
	sp, err := openSpool(dir, o.SpoolLimitBytes)
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := &ClickHouse{
		o: o, log: o.Logger.With("component", "history", "backend", "clickhouse"),
		conn: conn, db: db, spool: sp, dead: filepath.Join(dir, "dead"),
		maxPending: max(4*o.BatchSize, minPending), kick: make(chan struct{}, 1), wake: make(chan struct{}, 1),
		healthy: true,
	}
	c.rules = rules{now: o.Now, retention: o.Retention, c: &c.c}
	var seed [8]byte
	_, _ = cryptorand.Read(seed[:])
	c.nextID.Store(binary.LittleEndian.Uint64(seed[:]) >> 1)
	c.c.corrupt.Add(uint64(sp.corrupt))
	if sp.corrupt > 0 {
		c.log.Warn("spool had a torn record", "dir", dir)
	}
	if b := sp.Bytes(); b > 0 {
		c.log.Info("spool holds batches from an earlier run", "bytes", b)
	}
	sctx, cancel := context.WithTimeout(ctx, o.InsertTimeout)
	defer cancel()
	if err := c.setup(sctx); err != nil {
		c.log.Warn("clickhouse not ready, spooling until it is", "err", err)
		c.healthy = false
	}
	return c, nil
}

func validIdent(s string) bool {
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// setup learns the server's version and features and migrates the schema, once.
func (c *ClickHouse) setup(ctx context.Context) error {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	if c.ready.Load() {
		return nil
	}
	var version string
	if err := c.conn.QueryRow(ctx, "SELECT version()").Scan(&version); err != nil {
		return fmt.Errorf("server version: %w", err)
	}
	settings := map[string]bool{}
	rows, err := c.conn.Query(ctx, "SELECT name FROM system.settings WHERE name IN ('max_partitions_per_insert_block')")
	if err != nil {
		return fmt.Errorf("server settings: %w", err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err == nil {
			settings[n] = true
		}
	}
	rows.Close()
	f := featuresOf(version, settings)
	applied, err := migrate(ctx, c.conn, c.db, f, &c.o)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		c.log.Info("schema migrated", "database", c.db, "versions", applied, "server", version)
	}
	if n, err := dropExpired(ctx, c.conn, c.db, c.o.Now(), c.o.Retention); err != nil {
		c.log.Warn("retention", "err", err)
	} else if n > 0 {
		c.log.Info("dropped expired partitions", "partitions", n)
	}
	c.feat = f
	c.ready.Store(true)
	return nil
}

// Version is the server version learnt at setup ("" before).
func (c *ClickHouse) Version() string {
	if !c.ready.Load() {
		return ""
	}
	v := c.feat.version
	return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2])
}

// enqueue adds one checked record to its table's buffer.
func enqueue[T any](c *ClickHouse, b *buffer[T], r T) bool {
	b.mu.Lock()
	if b.closed || len(b.rows) >= c.maxPending {
		b.mu.Unlock()
		c.c.dropped.Add(1)
		return false
	}
	if b.rows == nil {
		b.rows = make([]T, 0, c.o.BatchSize)
	}
	b.rows = append(b.rows, r)
	full := len(b.rows) == c.o.BatchSize
	b.mu.Unlock()
	c.c.accepted.Add(1)
	c.c.queued.Add(1)
	if full {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
	return true
}

// RecordHealth queues the samples; it returns false when any was refused (by the rules, or
// because the queue was full).
func (c *ClickHouse) RecordHealth(samples ...model.HealthSample) bool {
	all := true
	for _, s := range samples {
		if !c.rules.health(&s) || !enqueue(c, &c.health, s) {
			all = false
		}
	}
	return all
}

// RecordSummary queues one summary.
func (c *ClickHouse) RecordSummary(s model.Summary) bool {
	return c.rules.summary(&s) && enqueue(c, &c.summaries, s)
}

// RecordLog queues one log line.
func (c *ClickHouse) RecordLog(e model.LogEntry) bool {
	return c.rules.log(&e) && enqueue(c, &c.logs, e)
}

// RecordLifecycle queues one lifecycle record.
func (c *ClickHouse) RecordLifecycle(r model.LifecycleRecord) bool {
	return c.rules.lifecycle(&r) && enqueue(c, &c.lifecycle, r)
}

// RecordDecision queues one decision.
func (c *ClickHouse) RecordDecision(d model.Decision) bool {
	return c.rules.decision(&d) && enqueue(c, &c.decisions, d)
}

// Stats reports the counters.
func (c *ClickHouse) Stats() Stats {
	s := c.c.stats()
	s.SpoolBytes = c.spool.Bytes()
	c.qmu.Lock()
	s.Healthy = c.healthy
	c.qmu.Unlock()
	return s
}

func take[T any](b *buffer[T], min int, closing bool) []T {
	b.mu.Lock()
	defer b.mu.Unlock()
	if closing {
		b.closed = true
	}
	if len(b.rows) == 0 || len(b.rows) < min {
		return nil
	}
	r := b.rows
	b.rows = nil
	return r
}

// seal turns buffers holding at least min rows into batches of at most BatchSize rows (a
// buffer grows past BatchSize when records arrive faster than Run seals) and dispatches them.
func (c *ClickHouse) seal(min int, closing bool) {
	sealTable(c, &c.health, min, closing, func(b *batch, r []model.HealthSample) { b.health = r }, tHealth)
	sealTable(c, &c.summaries, min, closing, func(b *batch, r []model.Summary) { b.summaries = r }, tSummaries)
	sealTable(c, &c.logs, min, closing, func(b *batch, r []model.LogEntry) { b.logs = r }, tLogs)
	sealTable(c, &c.lifecycle, min, closing, func(b *batch, r []model.LifecycleRecord) { b.lifecycle = r }, tLifecycle)
	sealTable(c, &c.decisions, min, closing, func(b *batch, r []model.Decision) { b.decisions = r }, tDecisions)
}

func sealTable[T any](c *ClickHouse, buf *buffer[T], least int, closing bool, set func(*batch, []T), t table) {
	rows := take(buf, least, closing)
	for len(rows) > 0 {
		n := min(len(rows), c.o.BatchSize)
		b := &batch{table: t, id: c.nextID.Add(1)}
		set(b, rows[:n:n])
		c.dispatch(b)
		rows = rows[n:]
	}
}

// dispatch hands a sealed batch to the sender through the memory queue, or writes it to the spool
// when ClickHouse is failing or the queue is full (ClickHouse is slow). Order holds because
// everything in the spool is older than everything in the queue: the sender drains the spool
// first, and a spill moves the whole queue behind what the spool holds.
func (c *ClickHouse) dispatch(b *batch) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if !c.healthy || len(c.queue) >= c.o.QueueBatches {
		c.spillLocked(b)
		return
	}
	c.queue = append(c.queue, b)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// spillLocked moves the memory queue, then extra, to the spool, in order. The batch at the head of
// the queue may be in flight; if its insert succeeds, its spooled copy is found in ClickHouse on
// replay and skipped. c.qmu is held.
func (c *ClickHouse) spillLocked(extra *batch) {
	q := c.queue
	c.queue = nil
	if extra != nil {
		q = append(q, extra)
	}
	var buf []byte
	for _, b := range q {
		n := b.len()
		buf = encodeBatch(buf[:0], b)
		if err := c.spool.append(buf); err != nil {
			c.c.spoolDropped.Add(uint64(n))
			if now := time.Now(); now.Sub(c.lastDrop) >= 10*time.Second {
				c.lastDrop = now
				c.log.Error("spool cannot take batch, rows dropped", "table", b.table.String(), "rows", n,
					"dropped_total", c.c.spoolDropped.Load(), "spool_bytes", c.spool.Bytes(), "err", err)
			}
		} else {
			c.c.spooled.Add(uint64(n))
		}
		c.account(b)
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// account removes a batch's rows from the queued gauge once, when they leave memory.
func (c *ClickHouse) account(b *batch) {
	if !b.spooled {
		b.spooled = true
		c.c.queued.Add(-int64(b.len()))
	}
}

// Run seals batches by size and every FlushInterval and runs the sender until ctx ends. Then it
// seals what the buffers hold, writes the memory queue to ClickHouse (within InsertTimeout) or
// else to the spool, and returns. Records arriving after that are refused.
func (c *ClickHouse) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("history: Run called twice")
	}
	draining := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.send(draining)
	}()
	t := time.NewTicker(c.o.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.seal(1, true)
			close(draining)
			<-done
			return nil
		case <-t.C:
			c.seal(1, false)
		case <-c.kick:
			c.seal(c.o.BatchSize, false)
		}
	}
}

// Close closes the connection and the spool. Call it after Run has returned.
func (c *ClickHouse) Close() error {
	return errors.Join(c.conn.Close(), c.spool.Close())
}
