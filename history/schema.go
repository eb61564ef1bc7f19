package history

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/strata-paas/strata/internal/model"
)

// features are what the connected server supports beyond ClickHouse 18.16, the oldest version
// Strata runs on. The schema is the same on every version; newer servers also get TTL, codecs and
// LowCardinality columns.
type features struct {
	version        [3]int
	lowCardinality bool // LowCardinality(String) without the experimental flag
	codecs         bool // column CODEC(...)
	ttl            bool // table TTL
	// maxPartitionsPerInsert: the server has the max_partitions_per_insert_block setting (19.x+,
	// default 100), which the writer lifts so a batch spanning many days is not refused.
	maxPartitionsPerInsert bool
}

// parseVersion reads "18.16.1" or "23.8.2.7".
func parseVersion(s string) [3]int {
	var v [3]int
	for i, p := range strings.SplitN(strings.TrimSpace(s), ".", 4) {
		if i == 3 {
			break
		}
		n, _ := strconv.Atoi(p)
		v[i] = n
	}
	return v
}

func atLeast(v [3]int, major, minor int) bool {
	return v[0] > major || v[0] == major && v[1] >= minor
}

func featuresOf(version string, settings map[string]bool) features {
	v := parseVersion(version)
	// The three became usable without experimental flags by 20.1 (TTL 19.6, codecs 19.1,
	// LowCardinality 19.9); 20.1 is the conservative gate.
	modern := atLeast(v, 20, 1)
	return features{
		version: v, lowCardinality: modern, codecs: modern, ttl: modern,
		maxPartitionsPerInsert: settings["max_partitions_per_insert_block"],
	}
}

// migration is one versioned schema step. Statements must be idempotent (IF NOT EXISTS) so a
// step interrupted half way can run again.
type migration struct {
	version int
	name    string
	stmts   func(db string, f features, o *Options) []string
}

// migrations are applied in order; a released step never changes, a new one is appended.
var migrations = []migration{
	{1, "create health, summaries, logs, lifecycle and decisions", createTables},
}

// dayExpr computes the partition day (UTC) from the ms timestamp.
const dayExpr = "toDate(toDateTime(intDiv(ts, 1000)), 'UTC')"

func summaryEnum() string {
	var b strings.Builder
	b.WriteString("Enum8(")
	for k := model.AverageLoadAverage; k.Class() != ""; k++ {
		if k > model.AverageLoadAverage {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "'%s' = %d", k.String(), k)
	}
	b.WriteString(")")
	return b.String()
}

func createTables(db string, f features, o *Options) []string {
	lc := "String"
	if f.lowCardinality {
		lc = "LowCardinality(String)"
	}
	var tsCodec, textCodec string
	if f.codecs {
		tsCodec, textCodec = " CODEC(DoubleDelta, LZ4)", " CODEC(ZSTD(1))"
	}
	tail := func(order string) string {
		s := "ENGINE = MergeTree PARTITION BY day ORDER BY (" + order + ")"
		if f.ttl {
			s += fmt.Sprintf(" TTL day + toIntervalDay(%d)", retentionDays(o.Retention))
		}
		return s + " SETTINGS index_granularity = 8192"
	}
	head := "ts Int64" + tsCodec + ", day Date DEFAULT " + dayExpr + ", "
	keys := ", batch_id UInt64, seq UInt32"
	return []string{
		"CREATE TABLE IF NOT EXISTS " + db + ".health (" + head +
			"cluster_id " + lc + ", cluster_instance_id " + lc + ", network_partition_id " + lc +
			", member_id String, partition_id " + lc + ", metric " + lc + ", value Float64" + keys + ") " +
			tail("cluster_id, metric, member_id, ts"),
		"CREATE TABLE IF NOT EXISTS " + db + ".summaries (" + head + "kind " + summaryEnum() +
			", cluster_id " + lc + ", cluster_instance_id " + lc + ", network_partition_id " + lc +
			", member_id String, partition_id " + lc + ", value Float64, served_count Float64, active_instances Float64" +
			keys + ") " + tail("cluster_id, kind, member_id, ts"),
		"CREATE TABLE IF NOT EXISTS " + db + ".logs (" + head + "stream " + lc + ", cluster_id " + lc +
			", tenant_id " + lc + ", member_id String, server_name " + lc + ", app_name " + lc + ", log_time String" +
			", priority " + lc + ", logger " + lc + ", ip " + lc + ", instance String, message String" + textCodec +
			", stacktrace String" + textCodec + keys + ") " + tail("cluster_id, member_id, ts"),
		"CREATE TABLE IF NOT EXISTS " + db + ".lifecycle (" + head + "entity " + lc + ", event " + lc +
			", service_name " + lc + ", application_id " + lc + ", cluster_id " + lc + ", cluster_instance_id " + lc +
			", network_partition_id " + lc + ", partition_id " + lc + ", member_id String, status " + lc + keys + ") " +
			tail("cluster_id, ts"),
		"CREATE TABLE IF NOT EXISTS " + db + ".decisions (" + head + "id String, cluster_id " + lc +
			", cluster_instance_id " + lc + ", network_partition_id " + lc + ", policy " + lc + ", mode " + lc +
			", action " + lc + ", active Int32, non_terminated Int32, required Int32, delta Int32, reason String" +
			", trace String" + textCodec + keys + ") " + tail("cluster_id, cluster_instance_id, ts"),
	}
}

func retentionDays(d time.Duration) int {
	return int((d + 24*time.Hour - 1) / (24 * time.Hour))
}

// migrate brings the schema of db to the newest version. The applied versions are rows of
// db.schema_migrations; two writers migrating at once run the same idempotent statements.
func migrate(ctx context.Context, conn driver.Conn, db string, f features, o *Options) (applied []int, err error) {
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db); err != nil {
		return nil, fmt.Errorf("create database %s: %w", db, err)
	}
	if err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+db+".schema_migrations (version UInt32, name String, applied_at DateTime) ENGINE = TinyLog"); err != nil {
		return nil, fmt.Errorf("create schema_migrations: %w", err)
	}
	var current uint32
	if err := conn.QueryRow(ctx, "SELECT toUInt32(max(version)) FROM "+db+".schema_migrations").Scan(&current); err != nil {
		return nil, fmt.Errorf("read schema version: %w", err)
	}
	for _, m := range migrations {
		if m.version <= int(current) {
			continue
		}
		for _, s := range m.stmts(db, f, o) {
			if err := conn.Exec(ctx, s); err != nil {
				return applied, fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
			}
		}
		// INSERT ... SELECT: an INSERT with VALUES through Exec waits for data blocks on 18.16.
		q := fmt.Sprintf("INSERT INTO %s.schema_migrations (version, name, applied_at) SELECT %d, '%s', now()",
			db, m.version, strings.ReplaceAll(m.name, "'", ""))
		if err := conn.Exec(ctx, q); err != nil {
			return applied, fmt.Errorf("record migration %d: %w", m.version, err)
		}
		applied = append(applied, m.version)
	}
	if f.ttl {
		// Retention may have changed since the tables were made.
		for _, t := range tableNames {
			q := fmt.Sprintf("ALTER TABLE %s.%s MODIFY TTL day + toIntervalDay(%d)", db, t, retentionDays(o.Retention))
			if err := conn.Exec(ctx, q); err != nil {
				return applied, fmt.Errorf("set retention of %s: %w", t, err)
			}
		}
	}
	return applied, nil
}

// dropExpired drops the day partitions wholly older than the retention. It works on every server
// version; on servers with TTL it only speeds up what TTL does anyway.
func dropExpired(ctx context.Context, conn driver.Conn, db string, now time.Time, retention time.Duration) (int, error) {
	cut := now.Add(-retention).UTC().Format(time.DateOnly)
	rows, err := conn.Query(ctx, "SELECT DISTINCT table, partition FROM system.parts WHERE database = ? AND active", db)
	if err != nil {
		return 0, fmt.Errorf("list partitions: %w", err)
	}
	type part struct{ table, partition string }
	var old []part
	for rows.Next() {
		var p part
		if err := rows.Scan(&p.table, &p.partition); err != nil {
			rows.Close()
			return 0, fmt.Errorf("list partitions: %w", err)
		}
		day := strings.Trim(p.partition, "'")
		if _, err := time.Parse(time.DateOnly, day); err != nil || !isDataTable(p.table) {
			continue
		}
		if day < cut {
			old = append(old, p)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("list partitions: %w", err)
	}
	for _, p := range old {
		if err := conn.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s DROP PARTITION '%s'", db, p.table, strings.Trim(p.partition, "'"))); err != nil {
			return 0, fmt.Errorf("drop partition %s of %s: %w", p.partition, p.table, err)
		}
	}
	return len(old), nil
}

func isDataTable(name string) bool {
	for _, t := range tableNames {
		if t == name {
			return true
		}
	}
	return false
}
