package controller

import (
	"context"
	"errors"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// ErrInstanceNotFound is what a Driver's Terminate returns (wrapped or not) for an instance it
// does not have. The controller treats it as "already gone": the member is terminated.
var ErrInstanceNotFound = errors.New("controller: instance not found")

// Driver starts and stops the instances of one IaaS type ("mock", "local", later real clouds).
// The controller calls it without holding any lock, from several goroutines at once; a Driver
// must be safe for concurrent use. Each driver lives in its own subpackage.
type Driver interface {
	// Start launches one instance for the member and returns once it has an id and its
	// addresses. The controller has published MemberCreatedEvent before the call and publishes
	// MemberInitializedEvent after it. On error nothing may be left running.
	Start(ctx context.Context, in Instance) (Started, error)
	// Terminate stops the instance and releases what it holds. Terminating an instance the
	// driver does not have returns ErrInstanceNotFound.
	Terminate(ctx context.Context, instanceID string) error
	// List returns every instance the driver runs, so a restarted controller can adopt them.
	List(ctx context.Context) ([]Started, error)
}

// Watcher is implemented by a Driver that notices instances ending on their own: a process
// that exits, a VM deleted behind the platform's back. Run calls Watch once per driver in its own
// goroutine; Watch calls report for each instance that ended without a Terminate call, and
// returns when ctx ends. The controller then publishes MemberTerminatedEvent for the member at
// once (see the package documentation for why). report is safe for concurrent use and does not
// block for long.
type Watcher interface {
	Watch(ctx context.Context, report func(Exit))
}

// ServiceWatcher is implemented by a Driver whose clusters are fronted by services it creates
// (Kubernetes Services, reported in Started.Services). Run calls WatchServices once per driver in
// its own goroutine; it calls report for each such service that is gone (deleted by the driver
// with its cluster's last instance, or by someone else), so that the cluster's
// kubernetesServices stop listing it, and returns when ctx ends. report is safe for concurrent use.
type ServiceWatcher interface {
	WatchServices(ctx context.Context, report func(ServiceGone))
}

// ServiceGone names a service that no longer fronts a cluster.
type ServiceGone struct {
	ClusterID           string // the cluster it fronted
	ServiceID           string // model.KubernetesService.ID
	KubernetesClusterID string
}

// Instance is what a Driver needs to start one member.
type Instance struct {
	MemberID           string
	ClusterID          string
	ClusterInstanceID  string
	ServiceName        string // the cartridge type
	NetworkPartitionID string
	PartitionID        string
	// Cartridge is the member's cartridge; IaaS is its iaasProvider entry for this driver's
	// type (nil when the cartridge has none). Drivers must not modify them.
	Cartridge *model.Cartridge
	IaaS      *model.IaasProvider
	// Partition holds the partition's properties (e.g. region, zone); NetworkPartition its
	// network partition's.
	Partition        *model.Partition
	NetworkPartition *model.NetworkPartition
	// Payload is the member's launch parameters (docs/stratos-wire.md §7.2): on a VM the user data,
	// for the local driver the agent's launch-params file. It is complete and valid.
	Payload model.Payload
	// PrivateIP is a hint (a fixed IP from the cartridge's network interface); empty lets the
	// driver choose.
	PrivateIP string
}

// Started describes a running instance: what Start returns and what List reports.
type Started struct {
	InstanceID string // the IaaS id; the mock uses the member id
	MemberID   string // the member the instance was started for
	PrivateIPs []string
	PublicIPs  []string
	// Services are the services that front the member's cluster on this IaaS (Kubernetes):
	// the controller records each new one in the cluster's kubernetesServices.
	Services []model.KubernetesService
}

// Exit reports an instance that ended on its own.
type Exit struct {
	InstanceID string
	MemberID   string
	Time       time.Time
	Reason     string // e.g. "exit status 1", "killed"
}
