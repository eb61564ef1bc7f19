# Governance: every module is in package strata.governance; the entrypoint is the set `deny`.
# Each message denies the proposed action and becomes part of the decision's explanation.
# input is the proposal (see rules.Proposal): action, delta, tenant_id, cartridge,
# network_partition_id, partition_id, active, non_terminated, required, min_members,
# max_members, cluster_members, tenant_members and time {hour, minute, weekday} (UTC).
# Do the arithmetic in the autoscaler: compare here.
package strata.governance

# Members each tenant may run, all clusters together.
tenant_quota := {"t1": 20, "t2": 5}

default_quota := 10

quota(tenant) := tenant_quota[tenant]

quota(tenant) := default_quota if not tenant_quota[tenant]

# Partitions each cartridge may use; cartridges not listed may use any.
allowed_partitions := {"mysql": {"partition-1"}}

# Network partitions each tenant may use; tenants not listed may use any.
tenant_network_partitions := {"t2": {"network-partition-1"}}

deny contains msg if {
	input.action == "scale-up"
	input.tenant_members + input.delta > quota(input.tenant_id)
	msg := sprintf("tenant %s would exceed its quota of %d members", [input.tenant_id, quota(input.tenant_id)])
}

deny contains msg if {
	input.action == "scale-up"
	allowed := allowed_partitions[input.cartridge]
	input.partition_id != ""
	not allowed[input.partition_id]
	msg := sprintf("cartridge %s may not run in partition %s", [input.cartridge, input.partition_id])
}

deny contains msg if {
	input.action == "scale-up"
	allowed := tenant_network_partitions[input.tenant_id]
	not allowed[input.network_partition_id]
	msg := sprintf("tenant %s may not run in network partition %s", [input.tenant_id, input.network_partition_id])
}

# No scale-down during the Sunday maintenance window, 02:00-04:00 UTC.
deny contains "scale-down is frozen during the Sunday maintenance window" if {
	input.action == "scale-down"
	input.time.weekday == 0
	input.time.hour >= 2
	input.time.hour < 4
}

# A hard cap on any one decision.
deny contains msg if {
	input.delta > 10
	msg := sprintf("a decision may start at most 10 members, not %d", [input.delta])
}
