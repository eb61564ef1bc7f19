package manager

import (
	"context"
	"time"

	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
)

// What the manager needs from the other components, declared here and adapted in cmd/strata.

// CartridgeRegistry is the controller's cartridge registry. *controller.Controller has these
// methods.
type CartridgeRegistry interface {
	AddCartridge(ctx context.Context, c model.Cartridge) error
	UpdateCartridge(ctx context.Context, c model.Cartridge) error
	RemoveCartridge(ctx context.Context, cartridgeType string) error
}

// PartitionRegistry is the controller's network-partition registry. *controller.Controller has
// these methods.
type PartitionRegistry interface {
	AddNetworkPartition(ctx context.Context, np model.NetworkPartition) error
	UpdateNetworkPartition(ctx context.Context, np model.NetworkPartition) error
	RemoveNetworkPartition(ctx context.Context, id string) error
}

// ClusterManager creates and removes an application's clusters and shows the topology.
// cmd adapts *controller.Controller: CreateApplicationClusters converts each Cluster into a
// controller.ClusterSpec (same field names); RemoveApplicationClusters and Topology are the
// controller's own.
type ClusterManager interface {
	CreateApplicationClusters(ctx context.Context, appID string, clusters []Cluster) error
	RemoveApplicationClusters(ctx context.Context, appID string) error
	Topology() *model.Topology
	// StartFailure returns why the last start of a member of the cluster failed, while no
	// member of it became Active since.
	StartFailure(clusterID string) (StartFailure, bool)
}

// StartFailure is why a member of a cluster could not be started (the controller's
// controller.StartFailure, same field names): the runtime view shows it on the cluster instance.
type StartFailure struct {
	ClusterID          string    `json:"clusterId"`
	ClusterInstanceID  string    `json:"clusterInstanceId,omitempty"`
	NetworkPartitionID string    `json:"networkPartitionId,omitempty"`
	PartitionID        string    `json:"partitionId,omitempty"`
	MemberID           string    `json:"memberId,omitempty"`
	Reason             string    `json:"reason"`
	Time               time.Time `json:"time"`
	Failures           int       `json:"failures"` // failed starts since a member was last Active
	// QuickFailures counts the members that ended on their own soon after they started, in a
	// row (a crash loop); BackoffUntil is when the next member may start; Failing says the
	// crash loop went on long enough for the cluster instance to count as failing.
	QuickFailures int        `json:"quickFailures,omitempty"`
	BackoffUntil  *time.Time `json:"backoffUntil,omitempty"`
	Failing       bool       `json:"failing,omitempty"`
}

// Cluster is one cluster the manager asks for when an application is deployed.
type Cluster struct {
	ClusterID        string
	ServiceName      string // the cartridge type
	AppID            string
	Alias            string
	HostNames        []string
	AutoscalePolicy  string
	DeploymentPolicy string
	TenantRange      string // "*" for multi-tenant clusters, the tenant id otherwise
	TenantID         string
	Properties       []model.NameValue
	// Payload holds CARTRIDGE_KEY, REPO_URL, MULTITENANT, ... for the members (§7.2).
	Payload model.Payload
	// Instances are the cluster instances to monitor, one per network partition of the
	// application policy, with the cartridge's min and max.
	Instances []ClusterInstance
}

// ClusterInstance is one cluster instance the autoscaler monitors.
type ClusterInstance struct {
	ClusterID        string
	InstanceID       string
	NetworkPartition string
	ServiceName      string
	ApplicationID    string
	TenantID         string
	Min, Max         int
	AutoscalePolicy  string
	DeploymentPolicy string
}

// Scaler is the autoscaler: cmd adapts *autoscaler.Autoscaler (RegisterCluster takes an
// autoscaler.ClusterSpec with the same field names as ClusterInstance).
type Scaler interface {
	RegisterCluster(c ClusterInstance) error
	RemoveCluster(clusterID string)
}

// Bus is the message bus; *bus.Client has these methods.
type Bus interface {
	PublishEvent(ctx context.Context, e model.Event) error
	SubscribeEvents(ctx context.Context, filter string, handler bus.EventHandler) error
}

// History answers the dashboard queries; history.Memory and history.ClickHouse have these methods.
type History interface {
	Health(ctx context.Context, q history.HealthQuery) ([]history.Point, error)
	Summaries(ctx context.Context, q history.SummaryQuery) ([]history.Point, error)
	Logs(ctx context.Context, q history.LogQuery) ([]model.LogEntry, error)
	Lifecycle(ctx context.Context, q history.LifecycleQuery) ([]model.LifecycleRecord, error)
	Decisions(ctx context.Context, q history.DecisionQuery) ([]model.Decision, error)
}

// nopPlatform stands in for a missing controller or autoscaler.
type nopPlatform struct{}

func (nopPlatform) AddCartridge(context.Context, model.Cartridge) error                  { return nil }
func (nopPlatform) UpdateCartridge(context.Context, model.Cartridge) error               { return nil }
func (nopPlatform) RemoveCartridge(context.Context, string) error                        { return nil }
func (nopPlatform) AddNetworkPartition(context.Context, model.NetworkPartition) error    { return nil }
func (nopPlatform) UpdateNetworkPartition(context.Context, model.NetworkPartition) error { return nil }
func (nopPlatform) RemoveNetworkPartition(context.Context, string) error                 { return nil }
func (nopPlatform) CreateApplicationClusters(context.Context, string, []Cluster) error   { return nil }
func (nopPlatform) RemoveApplicationClusters(context.Context, string) error              { return nil }
func (nopPlatform) Topology() *model.Topology                                            { return &model.Topology{} }
func (nopPlatform) StartFailure(string) (StartFailure, bool)                             { return StartFailure{}, false }
func (nopPlatform) RegisterCluster(ClusterInstance) error                                { return nil }
func (nopPlatform) RemoveCluster(string)                                                 {}
