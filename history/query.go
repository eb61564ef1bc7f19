package history

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/strata-paas/strata/internal/model"
)

// The SQL here is also in dashboards/queries.sql, where Grafana's variables replace the arguments.

// where builds a WHERE clause with positional arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) eq(column, value string) {
	if value != "" {
		w.add(column+" = ?", value)
	}
}

// span restricts ts and, for partition pruning, day.
func (w *where) span(s span) {
	if s.from != minMs {
		w.add("day >= ?", dayOf(s.from))
		w.add("ts >= ?", s.from)
	}
	if s.to != maxMs {
		w.add("day <= ?", dayOf(s.to))
		w.add("ts < ?", s.to)
	}
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// ensureReady sets the schema up if NewClickHouse could not.
func (c *ClickHouse) ensureReady(ctx context.Context) error {
	if c.ready.Load() {
		return nil
	}
	return c.setup(ctx)
}

func (c *ClickHouse) query(ctx context.Context, sql string, args []any) (driver.Rows, error) {
	if err := c.ensureReady(ctx); err != nil {
		return nil, err
	}
	rows, err := c.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("query history: %w", err)
	}
	return rows, nil
}

// Health aggregates raw samples per step.
func (c *ClickHouse) Health(ctx context.Context, q HealthQuery) ([]Point, error) {
	sp, step, err := spanStep(q.From, q.To, q.Step)
	if err != nil {
		return nil, err
	}
	var w where
	w.span(sp)
	w.eq("cluster_id", q.ClusterID)
	w.eq("cluster_instance_id", q.ClusterInstanceID)
	w.eq("member_id", q.MemberID)
	w.eq("metric", q.Metric)
	sql := fmt.Sprintf("SELECT toInt8(0), toString(metric), toString(cluster_id), toString(cluster_instance_id), member_id, "+
		"toInt64(intDiv(ts, %d) * %d) AS b, count(), min(value), max(value), avg(value) FROM %s.health%s "+
		"GROUP BY metric, cluster_id, cluster_instance_id, member_id, b "+
		"ORDER BY metric, cluster_id, cluster_instance_id, member_id, b", step, step, c.db, w.String())
	return c.points(ctx, sql, w.args)
}

// Summaries aggregates CEP summaries per step.
func (c *ClickHouse) Summaries(ctx context.Context, q SummaryQuery) ([]Point, error) {
	sp, step, err := spanStep(q.From, q.To, q.Step)
	if err != nil {
		return nil, err
	}
	var w where
	w.span(sp)
	w.eq("cluster_id", q.ClusterID)
	w.eq("cluster_instance_id", q.ClusterInstanceID)
	w.eq("member_id", q.MemberID)
	if q.Kind != 0 {
		if q.Kind.Class() == "" {
			return nil, fmt.Errorf("%w: unknown summary kind %d", ErrInvalidQuery, q.Kind)
		}
		w.add("kind = ?", q.Kind.String())
	}
	sql := fmt.Sprintf("SELECT toInt8(kind), toString(kind), toString(cluster_id), toString(cluster_instance_id), member_id, "+
		"toInt64(intDiv(ts, %d) * %d) AS b, count(), min(value), max(value), avg(value) FROM %s.summaries%s "+
		"GROUP BY kind, cluster_id, cluster_instance_id, member_id, b "+
		"ORDER BY kind, cluster_id, cluster_instance_id, member_id, b", step, step, c.db, w.String())
	return c.points(ctx, sql, w.args)
}

func (c *ClickHouse) points(ctx context.Context, sql string, args []any) ([]Point, error) {
	out, err := readRows(ctx, c, sql, args, "points", func(rows driver.Rows) (Point, error) {
		var (
			p    Point
			kind int8
			b    int64
		)
		err := rows.Scan(&kind, &p.Metric, &p.ClusterID, &p.ClusterInstanceID, &p.MemberID, &b, &p.Count,
			&p.Min, &p.Max, &p.Avg)
		p.Kind = model.SummaryKind(kind)
		p.Time = msTime(b)
		return p, err
	})
	// ClickHouse sorts the same way; sorting again here makes the order independent of collation
	// details of future server versions.
	slices.SortStableFunc(out, comparePoints)
	return out, err
}

// readRows runs a query and scans every row; what names the rows in errors.
func readRows[T any](ctx context.Context, c *ClickHouse, sql string, args []any, what string, scan func(driver.Rows) (T, error)) ([]T, error) {
	rows, err := c.query(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	return out, nil
}

// newestFirst reads rows a query returned newest first and returns them oldest first.
func newestFirst[T any](out []T, err error) ([]T, error) {
	slices.Reverse(out)
	return out, err
}

// Logs returns matching log lines.
func (c *ClickHouse) Logs(ctx context.Context, q LogQuery) ([]model.LogEntry, error) {
	sp, n, err := spanLimit(q.From, q.To, q.Limit)
	if err != nil {
		return nil, err
	}
	var w where
	w.span(sp)
	w.eq("cluster_id", q.ClusterID)
	w.eq("member_id", q.MemberID)
	if q.Contains != "" {
		w.add("position(message, ?) > 0", q.Contains)
	}
	sql := fmt.Sprintf("SELECT ts, toString(stream), member_id, toString(tenant_id), toString(server_name), "+
		"toString(app_name), log_time, toString(priority), message, toString(logger), toString(ip), instance, stacktrace "+
		"FROM %s.logs%s ORDER BY ts DESC, member_id DESC, message DESC LIMIT %d", c.db, w.String(), n)
	return newestFirst(readRows(ctx, c, sql, w.args, "logs", func(rows driver.Rows) (model.LogEntry, error) {
		var e model.LogEntry
		err := rows.Scan(&e.Timestamp, &e.Stream, &e.MemberID, &e.TenantID, &e.ServerName, &e.AppName,
			&e.LogTime, &e.Priority, &e.Message, &e.Logger, &e.IP, &e.Instance, &e.Stacktrace)
		return e, err
	}))
}

// Lifecycle returns matching lifecycle records.
func (c *ClickHouse) Lifecycle(ctx context.Context, q LifecycleQuery) ([]model.LifecycleRecord, error) {
	sp, n, err := spanLimit(q.From, q.To, q.Limit)
	if err != nil {
		return nil, err
	}
	var w where
	w.span(sp)
	w.eq("cluster_id", q.ClusterID)
	w.eq("member_id", q.MemberID)
	w.eq("application_id", q.ApplicationID)
	sql := fmt.Sprintf("SELECT ts, toString(entity), toString(event), toString(service_name), toString(application_id), "+
		"toString(cluster_id), toString(cluster_instance_id), toString(network_partition_id), toString(partition_id), "+
		"member_id, toString(status) FROM %s.lifecycle%s ORDER BY ts DESC, entity DESC, cluster_id DESC, "+
		"cluster_instance_id DESC, member_id DESC, event DESC, status DESC LIMIT %d", c.db, w.String(), n)
	return newestFirst(readRows(ctx, c, sql, w.args, "lifecycle", func(rows driver.Rows) (model.LifecycleRecord, error) {
		var (
			r  model.LifecycleRecord
			ts int64
		)
		err := rows.Scan(&ts, &r.Entity, &r.Event, &r.ServiceName, &r.ApplicationID, &r.ClusterID,
			&r.ClusterInstanceID, &r.NetworkPartitionID, &r.PartitionID, &r.MemberID, &r.Status)
		r.Time = msTime(ts)
		return r, err
	}))
}

// Decisions returns matching decisions with their traces.
func (c *ClickHouse) Decisions(ctx context.Context, q DecisionQuery) ([]model.Decision, error) {
	sp, n, err := spanLimit(q.From, q.To, q.Limit)
	if err != nil {
		return nil, err
	}
	var w where
	w.span(sp)
	w.eq("cluster_id", q.ClusterID)
	w.eq("cluster_instance_id", q.ClusterInstanceID)
	sql := fmt.Sprintf("SELECT ts, id, toString(cluster_id), toString(cluster_instance_id), toString(network_partition_id), "+
		"toString(policy), toString(mode), toString(action), active, non_terminated, required, delta, reason, trace "+
		"FROM %s.decisions%s ORDER BY ts DESC, id DESC LIMIT %d", c.db, w.String(), n)
	return newestFirst(readRows(ctx, c, sql, w.args, "decisions", func(rows driver.Rows) (model.Decision, error) {
		var (
			d                                model.Decision
			ts                               int64
			active, nonTerm, required, delta int32
			trace                            string
		)
		err := rows.Scan(&ts, &d.ID, &d.ClusterID, &d.ClusterInstanceID, &d.NetworkPartitionID, &d.Policy,
			&d.Mode, &d.Action, &active, &nonTerm, &required, &delta, &d.Reason, &trace)
		d.Time = msTime(ts)
		d.Active, d.NonTerminated, d.Required, d.Delta = int(active), int(nonTerm), int(required), int(delta)
		if trace != "" {
			d.Trace = json.RawMessage(trace)
		}
		return d, err
	}))
}
