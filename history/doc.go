// Package history keeps the platform's history for dashboards and the CLI: raw health samples, CEP
// summaries, agent log lines, member and cluster lifecycle records and autoscaler decisions with
// their traces. It has two backends with the same methods; each user declares the part it uses
// (the CEP, the controller and the autoscaler record, the manager and replays query, internal/app
// runs, closes and watches the one that --clickhouse selects):
//
//   - ClickHouse, when Options.DSN is set: a batching writer with an on-disk spool, on ClickHouse
//     18.16 (Debian, what CI runs) and on current servers.
//   - Memory, the embedded default: an in-process window bounded by age (Options.Retention) and by
//     size (Options.MemoryLimitBytes), so `strata up` needs nothing installed.
//
// Both answer the same queries (Health, Summaries, Logs, Lifecycle, Decisions) with the same
// results for the same records; TestQueries runs one table of cases against both.
//
// # Data flow (ClickHouse)
//
//	Record* (any goroutine)                    Run: sealer goroutine            sender goroutine
//	  rules: check, normalize ──► table buffer ──(BatchSize or FlushInterval)──► dispatch
//	  (no I/O, no blocking)      (≤ max(4×BatchSize,                               │
//	                              16384) rows, else                     healthy and queue not full?
//	                              refused: Dropped)               yes │                      │ no
//	                                                                  ▼                      ▼
//	                                                      memory queue (QueueBatches) ─fail─► spool (disk)
//	                                                                  │                      │ oldest first
//	                                                                  ▼                      ▼
//	                                                              INSERT ◄──── verify, INSERT missing rows
//
// Record methods check a record against the input rules, append it to its table's buffer under
// that buffer's mutex and return; they never wait for I/O. A buffer that reaches BatchSize wakes
// the sealer, which also seals every non-empty buffer each FlushInterval. A sealed batch gets an id
// (random 63-bit start per process, then +1) and goes to the memory queue, unless ClickHouse is
// failing or the queue holds QueueBatches batches (ClickHouse is slow): then the whole queue and
// the batch go to the spool, in order. The sender inserts the oldest spooled batches if there are
// any, else the oldest queued batch, so everything in the spool stays older than everything in
// the queue and batches land in order. A failed insert moves the queue to the spool and backs off
// (100 ms doubling to 2 s); the first successful replay marks ClickHouse healthy again, so new
// batches go back to the memory queue while the spool drains ahead of them.
//
// # Exactly once
//
// Every row carries an idempotent key: batch_id (UInt64) and seq (its index in the batch). A batch
// is sent at most once from memory; every later attempt goes through the spool, and spooled
// batches are verified before they are inserted. The sender reads up to 256 spooled batches (32
// MiB) from the head of the spool, waits until the server runs no earlier attempt of any of them
// (each INSERT has the query id strata-<batch id>-<n>, looked up in system.processes), then, per
// table, reads which keys of those batches are stored (SELECT batch_id, seq … WHERE batch_id IN
// (…), pruned to the batches' day partitions) and inserts the missing rows in one INSERT; only then
// does it advance the spool. Grouping keeps a backlog of many small batches cheap to replay. This
// covers an insert that succeeded but whose reply was lost, one that reached the server after the
// client gave up (TestSlowClickHouse sees such rows in Stats.Duplicates), one that reached only
// some partitions, and a batch spooled while its insert was in flight. It works on plain
// MergeTree, which on 18.16 has no insert deduplication; tables need no FINAL and queries no
// argMax. TestOutageExactlyOnce, TestRestartWhileDown, TestSlowClickHouse and
// TestReplaySkipsStoredRows prove it with counts and distinct keys. (Limit: an attempt the server
// has received but not yet registered in system.processes when the check runs; the check runs at
// least 100 ms after the attempt failed.)
//
// # Spool
//
// DataDir/history-spool holds segment files (%020d.seg, a new one past 16 MiB) of records
//
//	length uint32 LE | crc32c(payload) uint32 LE | payload (the batch, see batch.go)
//
// and a "head" file with the read position. fsync policy: every append is fsynced before the
// batch counts as spooled (appends happen only while ClickHouse is failing or slow, one per batch,
// so the cost is small); the head file is written after each replayed batch without fsync, since
// replaying a batch twice is harmless (see above). At open a torn record at the end of the last
// segment is cut off; an unreadable record later skips the rest of its segment (Stats.Corrupt).
// The spool survives a restart: NewClickHouse opens it even when ClickHouse is down, and the
// sender replays it when the server answers. When an append would pass SpoolLimitBytes the batch
// is dropped, its rows counted in Stats.SpoolDropped and an error logged (at most every 10 s,
// with the running total). A batch the server refuses for a reason retrying cannot fix (an
// exception other than timeouts, overload or network errors) makes the sender replay one batch at
// a time; a batch refused three times in a row is moved to history-spool/dead/ (Stats.DeadLetter,
// logged) so the batches behind it go on.
//
// # Backpressure
//
// Record never blocks. It returns false when the record breaks a rule (Stats.Rejected) or its
// table's buffer is full because the sealer cannot keep up (Stats.Dropped). While ClickHouse is
// slow or down, batches go to the spool instead of waiting in memory, so memory stays bounded by
// the buffers, the memory queue and the batch in flight. Bulk producers that prefer waiting to
// spooling watch Stats().Queued and pause while it exceeds a few batches (as BenchmarkWriteHealth
// does).
//
// # Input rules (both backends)
//
//   - A timestamp of 0 (zero time.Time for lifecycle records and decisions) means "not set" and
//     becomes the store's clock reading. Otherwise it must lie in [now-Retention, now+24h]; a record
//     outside (a timestamp in 1970 or 2100, say) is refused: Record returns false, Stats.Rejected.
//     Timestamps are kept in milliseconds, UTC.
//   - Health and summary values must be finite (no NaN or ±Inf); a summary needs a known kind.
//     Decision counts must fit in Int32.
//   - Strings are made valid UTF-8 (each run of bad bytes becomes U+FFFD) and cut at a character
//     boundary: log messages, stack traces and decision reasons to MaxMessageBytes (64 KiB), other
//     fields to MaxFieldBytes (1 KiB). Such records are stored and counted in Stats.Truncated.
//   - A decision trace over MaxTraceBytes becomes {"truncated":true,"bytes":N}; a trace that is not
//     valid JSON becomes a JSON string holding its text.
//   - A log line's cluster is the alias in its stream name, logs.<tenant>.<alias>.<date> (the agents
//     use the cluster id as the alias); LogQuery.ClusterID matches it.
//
// These rules make every stored row valid for its column, so no batch fails for its content.
//
// # Schema (ClickHouse)
//
// Database Options DSN path (default "strata"); tables health, summaries, logs, lifecycle,
// decisions, each MergeTree PARTITION BY day (Date, UTC, from ts) with ts Int64 (ms) and the
// batch_id/seq key; ORDER BY leads with cluster_id, then member (and metric or kind) and ts, so
// time-range queries per cluster and member read few granules. schema.go has the DDL; migrations
// are versioned (schema_migrations), idempotent and applied at open or, if the server is down
// then, before the first insert. Retention drops whole day partitions older than Retention, hourly,
// on every server version; servers ≥ 20.1 also get TTL, column codecs and LowCardinality strings.
// 18.16 has none of these, nor DateTime64 (so ts is Int64 ms everywhere) nor
// max_partitions_per_insert_block (lifted to 0 where it exists, detected in system.settings).
//
// # Metrics
//
// Collector(store) turns Stats into strata_history_* series labelled backend="memory" or
// "clickhouse": rows written, write errors (failed inserts), records rejected and dropped,
// spooled, replayed and dropped rows, spool bytes and the rows queued in memory.
//
// # Goroutines and locks
//
// ClickHouse.Run runs the sealer in the caller's goroutine and starts the sender; when ctx ends it
// seals the buffers, lets the sender insert the memory queue (within InsertTimeout) or spool it,
// and returns after the sender has exited. Queries run in the caller's goroutine on the connection
// pool. Memory.Run only evicts expired rows; Memory's Record and query methods lock Memory.mu.
//
// Lock order (ClickHouse): qmu (memory queue, health flag), then spool.mu. Each table buffer's mu
// and fmu (schema setup) are taken alone. Counters are atomics.
package history
