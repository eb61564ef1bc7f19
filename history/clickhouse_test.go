package history

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// runner runs a store until stop is called (or the test ends).
type runner struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func run(t testing.TB, s store) *runner {
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *runner) stop(t testing.TB) {
	r.once.Do(func() {
		r.cancel()
		if err := <-r.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// drained waits until nothing is queued or spooled.
func drained(t *testing.T, c *ClickHouse, d time.Duration) {
	t.Helper()
	waitFor(t, d, "queue and spool drained", func() bool {
		st := c.Stats()
		return st.Queued == 0 && st.SpoolBytes == 0 && st.Healthy
	})
}

func scalar(t testing.TB, c *ClickHouse, q string) uint64 {
	t.Helper()
	var n uint64
	if err := c.conn.QueryRow(t.Context(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// exactlyOnce checks that the table holds values 1..n once each (in column col).
func exactlyOnce(t *testing.T, c *ClickHouse, table, col string, n uint64) {
	t.Helper()
	count := scalar(t, c, fmt.Sprintf("SELECT count() FROM %s.%s", c.db, table))
	uniq := scalar(t, c, fmt.Sprintf("SELECT uniqExact(%s) FROM %s.%s", col, c.db, table))
	keys := scalar(t, c, fmt.Sprintf("SELECT uniqExact(batch_id, seq) FROM %s.%s", c.db, table))
	t.Logf("%s: %d rows, %d distinct values, %d distinct keys, want %d", table, count, uniq, keys, n)
	if count != n || uniq != n || keys != n {
		t.Errorf("%s: %d rows, %d distinct values, %d distinct (batch_id, seq); want %d of each", table, count, uniq, keys, n)
	}
}

// producer records health samples with values 1, 2, 3... and a log line with the same number,
// one of each per millisecond, until stop.
type producer struct {
	n    atomic.Int64
	stop chan struct{}
	done chan struct{}
}

func produce(s store, from int64) *producer {
	p := &producer{stop: make(chan struct{}), done: make(chan struct{})}
	p.n.Store(from)
	go func() {
		defer close(p.done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				i := p.n.Add(1)
				s.RecordHealth(model.HealthSample{ClusterID: "c", ClusterInstanceID: "c-1", MemberID: "m",
					Metric: model.MetricLoadAverage, Value: float64(i)})
				s.RecordLog(model.LogEntry{Stream: "logs.0.c.2026.11.23", MemberID: "m", Message: strconv.FormatInt(i, 10)})
			}
		}
	}()
	return p
}

func (p *producer) halt() int64 {
	close(p.stop)
	<-p.done
	return p.n.Load()
}

func outageDuration() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("STRATA_HISTORY_OUTAGE")); err == nil {
		return d
	}
	return 6 * time.Second
}

// TestOutageExactlyOnce stops ClickHouse under a steady stream, starts it again, and checks that
// every record is stored exactly once.
func TestOutageExactlyOnce(t *testing.T) {
	t.Parallel()
	srv := testenv.StartClickHouse(t)
	c, err := NewClickHouse(t.Context(), Options{DSN: "clickhouse://" + srv.Addr() + "/outage", DataDir: t.TempDir(),
		BatchSize: 500, FlushInterval: 50 * time.Millisecond, InsertTimeout: 2 * time.Second, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	run(t, c)
	p := produce(c, 0)
	waitFor(t, 10*time.Second, "first inserts", func() bool { return c.Stats().Inserted > 500 })
	srv.Stop()
	down := time.Now()
	waitFor(t, 10*time.Second, "spooling", func() bool { return c.Stats().Spooled > 0 })
	time.Sleep(outageDuration() - time.Since(down)) // the outage itself, with the stream running
	srv.Start()
	t.Logf("clickhouse down for %v", time.Since(down).Round(time.Millisecond))
	time.Sleep(time.Second) // keep streaming while the spool replays
	n := p.halt()
	drained(t, c, 60*time.Second)
	st := c.Stats()
	t.Logf("stats %+v", st)
	if st.Spooled == 0 || st.Replayed == 0 || st.Dropped != 0 || st.SpoolDropped != 0 || st.Accepted != uint64(2*n) {
		t.Errorf("stats %+v: want spooled and replayed rows, nothing dropped, %d accepted", st, 2*n)
	}
	exactlyOnce(t, c, "health", "value", uint64(n))
	exactlyOnce(t, c, "logs", "message", uint64(n))
}

// TestRestartWhileDown closes the writer while ClickHouse is down, opens a new one on the same
// data dir (still down), and checks that everything lands exactly once when ClickHouse returns.
func TestRestartWhileDown(t *testing.T) {
	t.Parallel()
	srv := testenv.StartClickHouse(t)
	dir := t.TempDir()
	o := Options{DSN: "clickhouse://" + srv.Addr() + "/restart", DataDir: dir, BatchSize: 100,
		FlushInterval: 20 * time.Millisecond, InsertTimeout: 2 * time.Second, Logger: testLogger(t)}
	record := func(s store, from, to int) {
		for i := from; i <= to; i++ {
			s.RecordHealth(model.HealthSample{ClusterID: "c", MemberID: "m", Metric: "x", Value: float64(i)})
		}
	}
	c1, err := NewClickHouse(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	r1 := run(t, c1)
	record(c1, 1, 300)
	stored(t, c1)
	srv.Stop()
	record(c1, 301, 1000)
	r1.stop(t) // Run ends while ClickHouse is down: what it holds goes to the spool
	if st := c1.Stats(); st.Queued != 0 || st.SpoolBytes == 0 {
		t.Fatalf("after close while down: %+v", st)
	}
	got := testenv.Gather(t, Collector(c1))
	for _, k := range []string{`strata_history_spool_bytes{backend="clickhouse"}`, `strata_history_spooled_rows_total{backend="clickhouse"}`,
		`strata_history_rows_written_total{backend="clickhouse"}`} {
		if got[k] <= 0 {
			t.Errorf("%s = %v, want > 0", k, got[k])
		}
	}
	if err := c1.Close(); err != nil {
		t.Fatal(err)
	}

	c2, err := NewClickHouse(t.Context(), o) // still down
	if err != nil {
		t.Fatalf("open while down: %v", err)
	}
	t.Cleanup(func() { c2.Close() })
	run(t, c2)
	record(c2, 1001, 1500)
	waitFor(t, 10*time.Second, "new records spooled", func() bool { return c2.Stats().Spooled == 500 })
	srv.Start()
	drained(t, c2, 60*time.Second)
	t.Logf("stats %+v", c2.Stats())
	exactlyOnce(t, c2, "health", "value", 1500)
}

// TestReplaySkipsStoredRows: a spooled batch that the server had already taken (the reply was
// lost), or had taken in part, is not inserted twice.
func TestReplaySkipsStoredRows(t *testing.T) {
	t.Parallel()
	addr := testenv.ClickHouse(t)
	c, err := NewClickHouse(t.Context(), Options{DSN: "clickhouse://" + addr + "/" + randomDB("replay"),
		DataDir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	mk := func(id uint64, base int) *batch {
		b := &batch{table: tHealth, id: id}
		for i := range 10 {
			b.health = append(b.health, model.HealthSample{ClusterID: "c", Metric: "x", Value: float64(base + i),
				Timestamp: time.Now().UnixMilli()})
		}
		return b
	}
	whole, half, none := mk(101, 0), mk(102, 10), mk(103, 20)
	if err := c.insert(t.Context(), whole); err != nil {
		t.Fatal(err)
	}
	part := half.keep(func(i int) bool { return i%2 == 0 })
	if err := c.insert(t.Context(), part); err != nil {
		t.Fatal(err)
	}
	for _, b := range []*batch{whole, half, none} {
		if err := c.spool.append(encodeBatch(nil, b)); err != nil {
			t.Fatal(err)
		}
	}
	run(t, c)
	drained(t, c, 30*time.Second)
	st := c.Stats()
	if st.Duplicates != 15 || st.Replayed != 15 {
		t.Errorf("duplicates %d, replayed %d; want 15 and 15", st.Duplicates, st.Replayed)
	}
	exactlyOnce(t, c, "health", "value", 30)
}

// TestSpoolBound: with ClickHouse away and the spool full, rows are dropped, counted and logged.
func TestSpoolBound(t *testing.T) {
	t.Parallel()
	var logs testenv.Buffer
	c, err := NewClickHouse(t.Context(), Options{DSN: fmt.Sprintf("clickhouse://127.0.0.1:%d/x", testenv.FreePort(t)),
		DataDir: t.TempDir(), BatchSize: 10, FlushInterval: 10 * time.Millisecond, SpoolLimitBytes: 2000,
		InsertTimeout: 500 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := run(t, c)
	for i := range 1000 {
		c.RecordHealth(model.HealthSample{ClusterID: "c", Metric: "x", Value: float64(i)})
	}
	if st := c.Stats(); st.Dropped != 0 {
		t.Fatalf("%d dropped from the queue", st.Dropped)
	}
	waitFor(t, 10*time.Second, "queue empty", func() bool { return c.Stats().Queued == 0 })
	r.stop(t)
	st := c.Stats()
	if st.SpoolDropped == 0 || st.Spooled == 0 || st.Spooled+st.SpoolDropped != st.Accepted || st.SpoolBytes > 2000 {
		t.Errorf("stats %+v: want rows spooled up to the bound and the rest dropped", st)
	}
	if !strings.Contains(logs.String(), "rows dropped") {
		t.Errorf("no log of the drop in:\n%s", logs.String())
	}
}

// TestMigrationsIdempotent opens the same database twice: the second open applies nothing.
func TestMigrationsIdempotent(t *testing.T) {
	t.Parallel()
	addr := testenv.ClickHouse(t)
	db := randomDB("mig")
	var logs testenv.Buffer
	o := Options{DSN: "clickhouse://" + addr + "/" + db, DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	for i := range 2 {
		c, err := NewClickHouse(t.Context(), o)
		if err != nil {
			t.Fatal(err)
		}
		if !c.ready.Load() {
			t.Fatalf("open %d: not ready:\n%s", i, logs.String())
		}
		if n := scalar(t, c, "SELECT count() FROM "+db+".schema_migrations"); n != uint64(len(migrations)) {
			t.Errorf("open %d: %d migration rows, want %d", i, n, len(migrations))
		}
		if n := scalar(t, c, "SELECT count() FROM system.tables WHERE database = '"+db+"'"); n != uint64(numTables)+1 {
			t.Errorf("open %d: %d tables", i, n)
		}
		c.Close()
	}
	if n := strings.Count(logs.String(), "schema migrated"); n != 1 {
		t.Errorf("migrated %d times, want once:\n%s", n, logs.String())
	}
}
