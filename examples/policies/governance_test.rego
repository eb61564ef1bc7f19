package strata.governance_test

import data.strata.governance

scale_up(extra) := object.union({"action": "scale-up", "delta": 1, "tenant_id": "t2", "tenant_members": 1,
	"cartridge": "php", "network_partition_id": "network-partition-1", "partition_id": "partition-1", "time": {"hour": 12, "minute": 0, "weekday": 3}}, extra)

test_allowed_within_quota if {
	count(governance.deny) == 0 with input as scale_up({})
}

test_quota_exceeded if {
	governance.deny["tenant t2 would exceed its quota of 5 members"] with input as scale_up({"tenant_members": 5})
}

test_default_quota if {
	governance.deny["tenant t9 would exceed its quota of 10 members"] with input as scale_up({"tenant_id": "t9", "tenant_members": 10})
}

test_partition_not_allowed if {
	governance.deny["cartridge mysql may not run in partition partition-2"] with input as scale_up({"cartridge": "mysql", "partition_id": "partition-2"})
}

test_maintenance_window if {
	count(governance.deny) == 1 with input as {"action": "scale-down", "delta": -1, "time": {"hour": 3, "weekday": 0}}
}

test_tenant_network_partition if {
	governance.deny["tenant t2 may not run in network partition network-partition-2"] with input as scale_up({"network_partition_id": "network-partition-2"})
}

test_cap if {
	governance.deny["a decision may start at most 10 members, not 11"] with input as scale_up({"delta": 11, "tenant_id": "t1"})
}
