package model

import (
	"encoding/json"
	"time"
)

// Records that components hand to history besides health statistics.

// LifecycleRecord is one lifecycle transition of a member, cluster instance, application or group,
// as the topology, cluster status and application events announce it.
type LifecycleRecord struct {
	Time               time.Time
	Entity             string // "member", "cluster", "cluster_instance", "application", "group"
	Event              string // the event class, e.g. "topology.MemberActivatedEvent"
	ServiceName        string
	ApplicationID      string
	ClusterID          string
	ClusterInstanceID  string
	NetworkPartitionID string
	PartitionID        string
	MemberID           string
	Status             string // the state entered, e.g. "Active"
	GroupID            string // group records only: the group alias
	InstanceID         string // application and group records: the application or group instance id
}

// Decision is one autoscaler evaluation of a cluster instance, including the ones that decided not
// to scale. Trace is the structured explanation (inputs, predictions, each rule's verdict, the
// limiting constraint), kept as JSON so history and the CLI need not know its shape.
type Decision struct {
	ID                 string
	Time               time.Time
	ClusterID          string
	ClusterInstanceID  string
	NetworkPartitionID string
	Policy             string
	Mode               string // "enforce", "dry-run" or "shadow"
	Action             string // e.g. "scale-up", "scale-down", "none"
	Active             int
	NonTerminated      int
	Required           int
	Delta              int // members started (>0) or terminated (<0)
	Reason             string
	Trace              json.RawMessage
}
