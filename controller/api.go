package controller

import (
	"errors"

	"github.com/strata-paas/strata/internal/model"
)

// Errors of the controller's API. Compare with errors.Is; the returned errors wrap them with
// the offending id.
var (
	ErrNotFound      = errors.New("controller: not found")
	ErrExists        = errors.New("controller: already exists")
	ErrInUse         = errors.New("controller: in use")
	ErrInvalid       = errors.New("controller: invalid request")
	ErrNoDriver      = errors.New("controller: no driver for the IaaS provider")
	ErrClosed        = errors.New("controller: closed")
	ErrNotRunning    = errors.New("controller: not running")
	ErrMemberStopped = errors.New("controller: member already terminated")
	// ErrRemoving refuses a start in a cluster that RemoveApplicationClusters is removing.
	ErrRemoving = errors.New("controller: cluster being removed")
)

// ClusterSpec describes a cluster to create: one cluster of an application, for one cartridge
// (service). The autoscaler builds it from the application and its policies.
type ClusterSpec struct {
	ClusterID        string   `json:"clusterId,omitempty"`   // e.g. model.ClusterID(appID, alias, cartridgeType)
	ServiceName      string   `json:"serviceName,omitempty"` // the cartridge type; it must exist
	AppID            string   `json:"appId,omitempty"`       // the application id (APPLICATION_ID)
	Alias            string   `json:"alias,omitempty"`       // the cartridge alias in the application (CARTRIDGE_ALIAS)
	HostNames        []string `json:"hostNames,omitempty"`   // default: model.HostName(AppID, Alias, cartridge host, multiTenant)
	AutoscalePolicy  string   `json:"autoscalePolicy,omitempty"`
	DeploymentPolicy string   `json:"deploymentPolicy,omitempty"`
	TenantRange      string   `json:"tenantRange,omitempty"` // default "*"
	TenantID         string   `json:"tenantId,omitempty"`    // TENANT_ID, default "-1234" (the super tenant)
	IsLbCluster      bool     `json:"isLbCluster,omitempty"`
	LBClusterID      string   `json:"lbClusterId,omitempty"` // LB_CLUSTER_ID of the members, optional
	ParentID         string   `json:"parentId,omitempty"`    // the group instance the cluster belongs to, optional
	// Properties become the cluster's topology properties; the ones named
	// payload_parameter.X go into its members' payload as X.
	Properties []model.NameValue `json:"properties,omitempty"`
	// Payload holds cluster-level payload entries the autoscaler or manager computes
	// (CARTRIDGE_KEY, REPO_URL, TOKEN, DEPENDENCY_*, ...); they override the controller's.
	Payload model.Payload `json:"payload,omitempty"`
}

// StartRequest asks for one member of a cluster in a partition.
type StartRequest struct {
	ClusterID          string `json:"clusterId,omitempty"`
	ClusterInstanceID  string `json:"clusterInstanceId,omitempty"` // created on first use, with ClusterInstanceCreatedEvent
	NetworkPartitionID string `json:"networkPartitionId,omitempty"`
	PartitionID        string `json:"partitionId,omitempty"`
	MinCount           int    `json:"minCount,omitempty"`          // MIN_COUNT in the payload and the member's properties
	ScalingDecisionID  string `json:"scalingDecisionId,omitempty"` // SCALING_DECISION_ID, optional
	// Properties become the member's topology properties.
	Properties model.Properties `json:"properties,omitempty"`
	// Recorded, when set, is called once the member is recorded in memory with its id and
	// InitTime (MemberCreatedEvent queued), before the durable write and the driver's start: a
	// caller with several starts in flight can keep their records in its order.
	Recorded func() `json:"-"`
}
