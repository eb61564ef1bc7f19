-- Strata history: the SQL behind history.Store's queries and the Grafana dashboard.
--
-- Runs on ClickHouse 18.16 and later. Placeholders:
--   {db}            database (default strata)
--   {from_ms}       range start, ms since the epoch (inclusive)
--   {to_ms}         range end, ms since the epoch (exclusive)
--   {from_day}      toDate of the start, 'YYYY-MM-DD' (UTC) — prunes day partitions
--   {to_day}        toDate of the end
--   {step_ms}       bucket width in ms; buckets start at multiples of it since the epoch
--   {cluster} {instance} {member} {metric} {kind} {text} {limit}
-- Every equality filter is left out when its value is empty (match any). Timestamps (ts) are Int64
-- milliseconds; day is the UTC date of ts and the partition key.
-- In the Grafana dashboard (Altinity plugin vertamedia-clickhouse-datasource, the one that
-- supports 18.16) $from and $to are seconds and $interval is the step in seconds.

-- history.Store.Health: raw health samples aggregated per step and series
-- (series = metric, cluster, cluster instance, member; in-flight requests have member '').
SELECT toInt8(0), toString(metric), toString(cluster_id), toString(cluster_instance_id), member_id,
       toInt64(intDiv(ts, {step_ms}) * {step_ms}) AS b, count(), min(value), max(value), avg(value)
FROM {db}.health
WHERE day >= {from_day} AND ts >= {from_ms} AND day <= {to_day} AND ts < {to_ms}
  AND cluster_id = {cluster} AND cluster_instance_id = {instance} AND member_id = {member} AND metric = {metric}
GROUP BY metric, cluster_id, cluster_instance_id, member_id, b
ORDER BY metric, cluster_id, cluster_instance_id, member_id, b;

-- history.Store.Summaries: CEP summaries (health.stat.* events) per step; kind is an Enum8 of the
-- event class names without the package, e.g. 'AverageLoadAverageEvent'.
SELECT toInt8(kind), toString(kind), toString(cluster_id), toString(cluster_instance_id), member_id,
       toInt64(intDiv(ts, {step_ms}) * {step_ms}) AS b, count(), min(value), max(value), avg(value)
FROM {db}.summaries
WHERE day >= {from_day} AND ts >= {from_ms} AND day <= {to_day} AND ts < {to_ms}
  AND cluster_id = {cluster} AND cluster_instance_id = {instance} AND member_id = {member} AND kind = {kind}
GROUP BY kind, cluster_id, cluster_instance_id, member_id, b
ORDER BY kind, cluster_id, cluster_instance_id, member_id, b;

-- history.Store.Logs: the newest {limit} lines (returned oldest first by the Go side).
-- cluster_id is the alias of the stream name logs.<tenant>.<alias>.<date>.
SELECT ts, toString(stream), member_id, toString(tenant_id), toString(server_name), toString(app_name),
       log_time, toString(priority), message, toString(logger), toString(ip), instance, stacktrace
FROM {db}.logs
WHERE day >= {from_day} AND ts >= {from_ms} AND day <= {to_day} AND ts < {to_ms}
  AND cluster_id = {cluster} AND member_id = {member} AND position(message, {text}) > 0
ORDER BY ts DESC, member_id DESC, message DESC
LIMIT {limit};

-- history.Store.Lifecycle: the newest {limit} transitions (returned oldest first).
SELECT ts, toString(entity), toString(event), toString(service_name), toString(application_id),
       toString(cluster_id), toString(cluster_instance_id), toString(network_partition_id),
       toString(partition_id), member_id, toString(status)
FROM {db}.lifecycle
WHERE day >= {from_day} AND ts >= {from_ms} AND day <= {to_day} AND ts < {to_ms}
  AND cluster_id = {cluster} AND member_id = {member} AND application_id = {application}
ORDER BY ts DESC, entity DESC, cluster_id DESC, cluster_instance_id DESC, member_id DESC, event DESC, status DESC
LIMIT {limit};

-- history.Store.Decisions: the newest {limit} autoscaler decisions with their JSON traces.
SELECT ts, id, toString(cluster_id), toString(cluster_instance_id), toString(network_partition_id),
       toString(policy), toString(mode), toString(action), active, non_terminated, required, delta, reason, trace
FROM {db}.decisions
WHERE day >= {from_day} AND ts >= {from_ms} AND day <= {to_day} AND ts < {to_ms}
  AND cluster_id = {cluster} AND cluster_instance_id = {instance}
ORDER BY ts DESC, id DESC
LIMIT {limit};

-- Members by state: each member's latest status at the end of the range (dashboard panel).
SELECT status, count() AS members
FROM (
    SELECT member_id, argMax(status, ts) AS status
    FROM {db}.lifecycle
    WHERE entity = 'member' AND cluster_id = {cluster} AND ts < {to_ms}
    GROUP BY member_id
)
GROUP BY status
ORDER BY status;

-- Decisions over time: decisions per action and step (dashboard panel).
SELECT toInt64(intDiv(ts, {step_ms}) * {step_ms}) AS t, toString(action) AS action, count() AS decisions
FROM {db}.decisions
WHERE day >= {from_day} AND ts >= {from_ms} AND day <= {to_day} AND ts < {to_ms} AND cluster_id = {cluster}
GROUP BY t, action
ORDER BY t, action;

-- Exactly-once check after an outage: every (batch_id, seq) once.
SELECT count() AS rows, uniqExact(batch_id, seq) AS keys FROM {db}.health;

-- Retention on servers without TTL (what the writer does hourly): list, then drop, old days.
SELECT DISTINCT table, partition FROM system.parts WHERE database = '{db}' AND active ORDER BY table, partition;
-- ALTER TABLE {db}.health DROP PARTITION 'YYYY-MM-DD';
