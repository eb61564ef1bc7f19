package history

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Column lists of the inserts (ClickHouse 18.16 needs them; day is filled by its DEFAULT).
var insertColumns = [numTables]string{
	tHealth:    "ts, cluster_id, cluster_instance_id, network_partition_id, member_id, partition_id, metric, value, batch_id, seq",
	tSummaries: "ts, kind, cluster_id, cluster_instance_id, network_partition_id, member_id, partition_id, value, served_count, active_instances, batch_id, seq",
	tLogs:      "ts, stream, cluster_id, tenant_id, member_id, server_name, app_name, log_time, priority, logger, ip, instance, message, stacktrace, batch_id, seq",
	tLifecycle: "ts, entity, event, service_name, application_id, cluster_id, cluster_instance_id, network_partition_id, partition_id, member_id, status, batch_id, seq",
	tDecisions: "ts, id, cluster_id, cluster_instance_id, network_partition_id, policy, mode, action, active, non_terminated, required, delta, reason, trace, batch_id, seq",
}

func col[T, V any](rows []T, f func(*T) V) []V {
	out := make([]V, len(rows))
	for i := range rows {
		out[i] = f(&rows[i])
	}
	return out
}

// columns builds the column slices of b in the order of insertColumns. seqs gives the seq of each
// row; nil means 0..n-1.
func columns(b *batch, seqs []uint32) []any {
	n := b.len()
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = b.id
	}
	if seqs == nil {
		seqs = make([]uint32, n)
		for i := range seqs {
			seqs[i] = uint32(i)
		}
	}
	var cols []any
	switch b.table {
	case tHealth:
		r := b.health
		cols = []any{
			col(r, func(r *healthRow) int64 { return r.Timestamp }),
			col(r, func(r *healthRow) string { return r.ClusterID }),
			col(r, func(r *healthRow) string { return r.ClusterInstanceID }),
			col(r, func(r *healthRow) string { return r.NetworkPartitionID }),
			col(r, func(r *healthRow) string { return r.MemberID }),
			col(r, func(r *healthRow) string { return r.PartitionID }),
			col(r, func(r *healthRow) string { return r.Metric }),
			col(r, func(r *healthRow) float64 { return r.Value }),
		}
	case tSummaries:
		r := b.summaries
		cols = []any{
			col(r, func(r *summaryRow) int64 { return r.Timestamp }),
			col(r, func(r *summaryRow) int8 { return int8(r.Kind) }),
			col(r, func(r *summaryRow) string { return r.ClusterID }),
			col(r, func(r *summaryRow) string { return r.ClusterInstanceID }),
			col(r, func(r *summaryRow) string { return r.NetworkPartitionID }),
			col(r, func(r *summaryRow) string { return r.MemberID }),
			col(r, func(r *summaryRow) string { return r.PartitionID }),
			col(r, func(r *summaryRow) float64 { return r.Value }),
			col(r, func(r *summaryRow) float64 { return r.ServedCount }),
			col(r, func(r *summaryRow) float64 { return r.ActiveInstances }),
		}
	case tLogs:
		r := b.logs
		cols = []any{
			col(r, func(r *logRow) int64 { return r.Timestamp }),
			col(r, func(r *logRow) string { return r.Stream }),
			col(r, func(r *logRow) string { return streamCluster(r.Stream) }),
			col(r, func(r *logRow) string { return r.TenantID }),
			col(r, func(r *logRow) string { return r.MemberID }),
			col(r, func(r *logRow) string { return r.ServerName }),
			col(r, func(r *logRow) string { return r.AppName }),
			col(r, func(r *logRow) string { return r.LogTime }),
			col(r, func(r *logRow) string { return r.Priority }),
			col(r, func(r *logRow) string { return r.Logger }),
			col(r, func(r *logRow) string { return r.IP }),
			col(r, func(r *logRow) string { return r.Instance }),
			col(r, func(r *logRow) string { return r.Message }),
			col(r, func(r *logRow) string { return r.Stacktrace }),
		}
	case tLifecycle:
		r := b.lifecycle
		cols = []any{
			col(r, func(r *lifecycleRow) int64 { return r.Time.UnixMilli() }),
			col(r, func(r *lifecycleRow) string { return r.Entity }),
			col(r, func(r *lifecycleRow) string { return r.Event }),
			col(r, func(r *lifecycleRow) string { return r.ServiceName }),
			col(r, func(r *lifecycleRow) string { return r.ApplicationID }),
			col(r, func(r *lifecycleRow) string { return r.ClusterID }),
			col(r, func(r *lifecycleRow) string { return r.ClusterInstanceID }),
			col(r, func(r *lifecycleRow) string { return r.NetworkPartitionID }),
			col(r, func(r *lifecycleRow) string { return r.PartitionID }),
			col(r, func(r *lifecycleRow) string { return r.MemberID }),
			col(r, func(r *lifecycleRow) string { return r.Status }),
		}
	case tDecisions:
		r := b.decisions
		cols = []any{
			col(r, func(r *decisionRow) int64 { return r.Time.UnixMilli() }),
			col(r, func(r *decisionRow) string { return r.ID }),
			col(r, func(r *decisionRow) string { return r.ClusterID }),
			col(r, func(r *decisionRow) string { return r.ClusterInstanceID }),
			col(r, func(r *decisionRow) string { return r.NetworkPartitionID }),
			col(r, func(r *decisionRow) string { return r.Policy }),
			col(r, func(r *decisionRow) string { return r.Mode }),
			col(r, func(r *decisionRow) string { return r.Action }),
			col(r, func(r *decisionRow) int32 { return int32(r.Active) }),
			col(r, func(r *decisionRow) int32 { return int32(r.NonTerminated) }),
			col(r, func(r *decisionRow) int32 { return int32(r.Required) }),
			col(r, func(r *decisionRow) int32 { return int32(r.Delta) }),
			col(r, func(r *decisionRow) string { return r.Reason }),
			col(r, func(r *decisionRow) string { return string(r.Trace) }),
		}
	}
	return append(cols, ids, seqs)
}

// insert writes b (with the given seqs, nil for 0..n-1) in one INSERT. The query id names the
// batch so a replay can wait for an insert the server still runs.
func (c *ClickHouse) insert(ctx context.Context, b *batch, seqs []uint32) error {
	opts := []clickhouse.QueryOption{clickhouse.WithQueryID(fmt.Sprintf("strata-%x-%d", b.id, c.queryN.Add(1)))}
	if c.feat.maxPartitionsPerInsert {
		opts = append(opts, clickhouse.WithSettings(clickhouse.Settings{"max_partitions_per_insert_block": 0}))
	}
	ctx = clickhouse.Context(ctx, opts...)
	bt, err := c.conn.PrepareBatch(ctx, "INSERT INTO "+c.db+"."+b.table.String()+" ("+insertColumns[b.table]+")")
	if err != nil {
		return fmt.Errorf("insert %s batch %x: %w", b.table, b.id, err)
	}
	for i, v := range columns(b, seqs) {
		if err := bt.Column(i).Append(v); err != nil {
			_ = bt.Abort()
			return fmt.Errorf("insert %s batch %x column %d: %w", b.table, b.id, i, err)
		}
	}
	if err := bt.Send(); err != nil {
		return fmt.Errorf("insert %s batch %x: %w", b.table, b.id, err)
	}
	return nil
}

// insertVerified inserts a spooled batch exactly once: it waits until no earlier attempt of the
// batch is still running on the server, asks which of its rows (batch_id, seq) are already stored,
// and inserts only the others.
func (c *ClickHouse) insertVerified(ctx context.Context, b *batch) error {
	if err := c.waitAttempts(ctx, b.id); err != nil {
		return err
	}
	n := b.len()
	lo, hi := b.tsAt(0), b.tsAt(0)
	for i := 1; i < n; i++ {
		ts := b.tsAt(i)
		lo, hi = min(lo, ts), max(hi, ts)
	}
	q := fmt.Sprintf("SELECT seq FROM %s.%s WHERE day >= '%s' AND day <= '%s' AND batch_id = %d",
		c.db, b.table, dayOf(lo), dayOf(hi), b.id)
	rows, err := c.conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("verify %s batch %x: %w", b.table, b.id, err)
	}
	present := make(map[uint32]bool)
	for rows.Next() {
		var s uint32
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return fmt.Errorf("verify %s batch %x: %w", b.table, b.id, err)
		}
		present[s] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("verify %s batch %x: %w", b.table, b.id, err)
	}
	if len(present) == 0 {
		if err := c.insert(ctx, b, nil); err != nil {
			return err
		}
		c.c.replayed.Add(uint64(n))
		c.c.inserted.Add(uint64(n))
		c.c.batches.Add(1)
		return nil
	}
	missing, seqs := b.keep(func(i int) bool { return !present[uint32(i)] })
	if len(seqs) > 0 {
		if err := c.insert(ctx, missing, seqs); err != nil {
			return err
		}
		c.c.batches.Add(1)
	}
	c.c.replayed.Add(uint64(len(seqs)))
	c.c.inserted.Add(uint64(len(seqs)))
	c.c.duplicates.Add(uint64(n - len(seqs)))
	return nil
}

// waitAttempts waits while the server still runs an insert of batch id (one whose client gave up),
// so the check that follows sees its outcome.
func (c *ClickHouse) waitAttempts(ctx context.Context, id uint64) error {
	q := fmt.Sprintf("SELECT count() FROM system.processes WHERE startsWith(query_id, 'strata-%x-')", id)
	for {
		var running uint64
		if err := c.conn.QueryRow(ctx, q).Scan(&running); err != nil {
			return fmt.Errorf("check running inserts: %w", err)
		}
		if running == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for running insert of batch %x: %w", id, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func dayOf(ms int64) string { return msTime(ms).Format(time.DateOnly) }
