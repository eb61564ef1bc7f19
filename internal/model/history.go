package model

import (
	"encoding/json"
	"time"
)

// Records that components hand to history besides health statistics.

// LifecycleRecord is one lifecycle transition of a member, cluster instance, application or group,
// as the topology, cluster status and application events announce it.
type LifecycleRecord struct {
	Time               time.Time `json:"time"`
	Entity             string    `json:"entity"` // "member", "cluster", "cluster_instance", "application", "group"
	Event              string    `json:"event"`  // the event class, e.g. "topology.MemberActivatedEvent"
	ServiceName        string    `json:"serviceName"`
	ApplicationID      string    `json:"applicationId"`
	ClusterID          string    `json:"clusterId"`
	ClusterInstanceID  string    `json:"clusterInstanceId"`
	NetworkPartitionID string    `json:"networkPartitionId"`
	PartitionID        string    `json:"partitionId"`
	MemberID           string    `json:"memberId"`
	Status             string    `json:"status"`     // the state entered, e.g. "Active"
	GroupID            string    `json:"groupId"`    // group records only: the group alias
	InstanceID         string    `json:"instanceId"` // application and group records: the application or group instance id
}

// Decision is one autoscaler evaluation of a cluster instance, including the ones that decided not
// to scale. Trace is the structured explanation (inputs, predictions, each rule's verdict, the
// limiting constraint), kept as JSON so history and the CLI need not know its shape.
type Decision struct {
	ID                 string          `json:"id"`
	Time               time.Time       `json:"time"`
	ClusterID          string          `json:"clusterId"`
	ClusterInstanceID  string          `json:"clusterInstanceId"`
	NetworkPartitionID string          `json:"networkPartitionId"`
	Policy             string          `json:"policy"`
	Mode               string          `json:"mode"`   // "enforce", "dry-run" or "shadow"
	Action             string          `json:"action"` // e.g. "scale-up", "scale-down", "none"
	Active             int             `json:"active"`
	NonTerminated      int             `json:"nonTerminated"`
	Required           int             `json:"required"`
	Delta              int             `json:"delta"` // members started (>0) or terminated (<0)
	Reason             string          `json:"reason"`
	Trace              json.RawMessage `json:"trace"`
}
