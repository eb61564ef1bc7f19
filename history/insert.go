package history

import (
	"context"
	"fmt"
	"strconv"
	"strings"
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

// columns builds the column slices of b in the order of insertColumns, ending with the rows' keys.
func columns(b *batch) []any {
	n := b.len()
	ids, seqs := b.ids, b.seqs
	if ids == nil {
		ids, seqs = make([]uint64, n), make([]uint32, n)
		for i := range ids {
			ids[i], seqs[i] = b.id, uint32(i)
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

// insert writes b in one INSERT. The query id names the batch so a replay can wait for an insert
// the server still runs.
func (c *ClickHouse) insert(ctx context.Context, b *batch) error {
	opts := []clickhouse.QueryOption{clickhouse.WithQueryID(fmt.Sprintf("strata-%x-%d", b.id, c.queryN.Add(1)))}
	if c.feat.maxPartitionsPerInsert {
		opts = append(opts, clickhouse.WithSettings(clickhouse.Settings{"max_partitions_per_insert_block": 0}))
	}
	ctx = clickhouse.Context(ctx, opts...)
	bt, err := c.conn.PrepareBatch(ctx, "INSERT INTO "+c.db+"."+b.table.String()+" ("+insertColumns[b.table]+")")
	if err != nil {
		return fmt.Errorf("insert %s batch %x: %w", b.table, b.id, err)
	}
	for i, v := range columns(b) {
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

// replay inserts spooled batches exactly once. It waits until the server runs no earlier attempt
// of any of them, then, per table, asks which keys (batch_id, seq) of the batches are stored and
// inserts the other rows in one INSERT. Batches are grouped so that a backlog of many small
// batches costs a few round trips, not three per batch.
func (c *ClickHouse) replay(ctx context.Context, bs []*batch) error {
	ids := make(map[uint64]bool, len(bs))
	for _, b := range bs {
		ids[b.id] = true
	}
	if err := c.waitAttempts(ctx, ids); err != nil {
		return err
	}
	var byTable [numTables][]*batch
	for _, b := range bs {
		byTable[b.table] = append(byTable[b.table], b)
	}
	for t, group := range byTable {
		if len(group) == 0 {
			continue
		}
		if err := c.replayTable(ctx, table(t), group); err != nil {
			return err
		}
	}
	return nil
}

type rowKey struct {
	id  uint64
	seq uint32
}

func (c *ClickHouse) replayTable(ctx context.Context, t table, group []*batch) error {
	b := merge(group)
	n := b.len()
	lo, hi := b.tsAt(0), b.tsAt(0)
	for i := 1; i < n; i++ {
		ts := b.tsAt(i)
		lo, hi = min(lo, ts), max(hi, ts)
	}
	var idList strings.Builder
	for i, g := range group {
		if i > 0 {
			idList.WriteByte(',')
		}
		idList.WriteString(strconv.FormatUint(g.id, 10))
	}
	q := fmt.Sprintf("SELECT batch_id, seq FROM %s.%s WHERE day >= '%s' AND day <= '%s' AND batch_id IN (%s)",
		c.db, t, dayOf(lo), dayOf(hi), idList.String())
	rows, err := c.conn.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("verify %s batch %x: %w", t, b.id, err)
	}
	present := make(map[rowKey]bool)
	for rows.Next() {
		var k rowKey
		if err := rows.Scan(&k.id, &k.seq); err != nil {
			rows.Close()
			return fmt.Errorf("verify %s batch %x: %w", t, b.id, err)
		}
		present[k] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("verify %s batch %x: %w", t, b.id, err)
	}
	missing := b
	if len(present) > 0 {
		missing = b.keep(func(i int) bool {
			id, seq := b.key(i)
			return !present[rowKey{id, seq}]
		})
	}
	m := missing.len()
	if m > 0 {
		if err := c.insert(ctx, missing); err != nil {
			return err
		}
		c.c.batches.Add(1)
	}
	c.c.replayed.Add(uint64(m))
	c.c.inserted.Add(uint64(m))
	c.c.duplicates.Add(uint64(n - m))
	return nil
}

// waitAttempts waits while the server still runs an insert of one of the batches in ids (one whose
// client gave up), so the check that follows sees its outcome.
func (c *ClickHouse) waitAttempts(ctx context.Context, ids map[uint64]bool) error {
	for {
		rows, err := c.conn.Query(ctx, "SELECT query_id FROM system.processes WHERE startsWith(query_id, 'strata-')")
		if err != nil {
			return fmt.Errorf("check running inserts: %w", err)
		}
		running := false
		for rows.Next() {
			var qid string
			if err := rows.Scan(&qid); err != nil {
				rows.Close()
				return fmt.Errorf("check running inserts: %w", err)
			}
			hexID, _, _ := strings.Cut(strings.TrimPrefix(qid, "strata-"), "-")
			if id, err := strconv.ParseUint(hexID, 16, 64); err == nil && ids[id] {
				running = true
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("check running inserts: %w", err)
		}
		if !running {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for a running insert: %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func dayOf(ms int64) string { return msTime(ms).Format(time.DateOnly) }
