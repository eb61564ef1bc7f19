package controller

import (
	"context"
	"log/slog"
	"time"

	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/model"
)

// Bus is what the controller needs from the message bus; *bus.Client implements it.
type Bus interface {
	PublishEvent(ctx context.Context, e model.Event) error
	SubscribeEvents(ctx context.Context, filter string, handler bus.EventHandler) error
}

// Recorder receives every lifecycle transition; history's stores implement it. RecordLifecycle
// must not block; it reports false when the record was dropped.
type Recorder interface {
	RecordLifecycle(r model.LifecycleRecord) bool
}

// Credentials are the message-broker and CEP credentials a cluster's members receive in their
// payload (MB_USERNAME/MB_PASSWORD, CEP_USERNAME/CEP_PASSWORD and CEP_ADMIN_USERNAME/PASSWORD).
type Credentials struct {
	MBUsername, MBPassword   string
	CEPUsername, CEPPassword string
}

// IssueFunc issues the credentials of a new cluster (e.g. a broker account per cluster). It is
// called once per cluster, by CreateCluster; the result is stored with the cluster.
type IssueFunc func(ctx context.Context, clusterID string) (Credentials, error)

// Defaults of Options.
const (
	DefaultSyncInterval     = 60 * time.Second
	DefaultGracefulTimeout  = 30 * time.Minute
	DefaultCleanupInterval  = 30 * time.Second
	DefaultTopologyThrottle = time.Second
	// DefaultTerminateParallelism is the default of Options.TerminateParallelism.
	DefaultTerminateParallelism = 16
	DefaultStatePath            = "controller.db"
	bucketCartridges            = "cartridges"
	bucketNetworkPartitions     = "network_partitions"
	bucketClusters              = "clusters"
	bucketMembers               = "members"
)

// Subscribers is what the controller asks the broker about a topic; *bus.Broker has it.
type Subscribers interface {
	// Subscriptions counts the subscriptions matching topic granted since the broker started.
	Subscriptions(topic string) uint64
	// Subscribed reports whether a message on topic would reach anyone now.
	Subscribed(topic string) bool
}

// Options configure a Controller.
type Options struct {
	// Bus publishes the topology events and receives instance status, cluster status and
	// CompleteTopologyRequest events. Required.
	Bus Bus
	// DB holds the state (cartridges, network partitions, clusters, members). When nil,
	// DataDir/controller.db is opened (and closed by Close). One of the two is required.
	DB      *bbolt.DB
	DataDir string
	// Drivers by IaaS type: a network partition's provider chooses the driver.
	Drivers map[string]Driver
	// Recorder receives every lifecycle transition; optional.
	Recorder Recorder
	// Clock defaults to the system clock; tests inject a clock.Manual.
	Clock clock.Clock
	// Logger receives the controller's logs; nil discards them.
	Logger *slog.Logger
	// SyncInterval is how often the complete topology is published (Stratos: 60 s).
	SyncInterval time.Duration
	// Broker, when set, is the embedded broker (*bus.Broker), whose subscribers the controller
	// can see. The periodic sync is then skipped while nobody subscribes to the
	// CompleteTopologyEvent (the platform's own components take it only when they ask for one,
	// bus.Consumer.FollowTopology), and while the topology has not changed, no subscription to it
	// was granted and no publication failed since the last one. Nil: the complete topology is
	// published every SyncInterval (an external broker).
	Broker Subscribers
	// TopologyThrottle is the least time between two CompleteTopologyEvents sent in answer to
	// requests: requests that arrive meanwhile share the next one (10 000 agents starting at once
	// would otherwise each cost a full topology).
	TopologyThrottle time.Duration
	// TerminateParallelism is how many workers drain the termination queue (undeploys, members
	// ready to shut down, graceful timeouts), and how many terminations one TerminateAll call
	// has in flight; default DefaultTerminateParallelism. The two bounds are separate: while
	// TerminateAll calls run beside an undeploy, the driver has up to TerminateParallelism calls
	// from the queue plus TerminateParallelism per TerminateAll call in flight, and
	// TerminateMember calls (the REST API, the autoscaler) are not bounded at all. A driver that
	// waits on each call (an fsync, an IaaS round trip) terminates at most this many queued
	// members per call time: 16 took 148 s for 20 000 mock members.
	TerminateParallelism int
	// GracefulTimeout bounds a graceful termination: a member that has not reached
	// ReadyToShutDown this long after TerminateMember(graceful) is terminated forcibly
	// (Stratos' pendingTerminationMemberExpiryTimeout, 30 min).
	GracefulTimeout time.Duration
	// CleanupInterval is how often InstanceCleanupMemberEvent is repeated for a member being
	// terminated gracefully until its agent answers.
	CleanupInterval time.Duration
	// MBURLs ("host:port" or "tcp://host:port") and CEPURLs (the CEP's secure data-bridge
	// port, "host:7711") are the coordinates every payload carries as MB_URLS, MB_IP, MB_PORT,
	// CEP_URLS, CEP_IP and CEP_PORT. Only the first entry is used: launch-params values cannot
	// hold the "," the agents split their lists on.
	MBURLs  []string
	CEPURLs []string
	// Issue issues per-cluster credentials; nil leaves them to payload parameters.
	Issue IssueFunc
	// MemberCredentials, when set, gives each new member its own broker and CEP credentials,
	// which replace the cluster's in its payload. It is called under the controller's lock, so
	// it must be quick and must not call the controller; a member's credential is meant to
	// stop working once the member is no longer in the controller (see Member).
	MemberCredentials func(memberID, clusterID string) Credentials
	// Payload entries added to every member's payload before the cartridge's, cluster's and
	// network partition's payload parameters (which override them), e.g. LOG_LEVEL.
	Payload model.Payload
}

// StateTxKeys is the most keys one transaction on the state file writes or deletes: the
// controller's flush and the mock driver's deletions. A transaction's cost in memory grows with
// the pages it touches (bbolt holds a buffer for each dirty page until the commit, and the
// encoded records wait for it); an undeploy of 100 000 members had transactions of tens of
// thousands of members, ~150 MB of pages at once (issue 17).
const StateTxKeys = 2048

// StateOptions are the bbolt options of the controller's state file (DefaultStatePath), which
// the mock driver shares; timeout bounds the wait for another process's lock. The free pages are
// kept in a map and not written with every commit: bbolt's default, a sorted array written whole
// by each commit, made every transaction of an undeploy cost in proportion to the pages its
// earlier deletions had freed (issue 17: at 50 000 members the freelist's work per member was
// three times that at 20 000). Without it in the file, bbolt finds the free pages by reading the
// file when it opens it (~0.5 s for 450 MB); a crash loses nothing, as the freelist is derived
// from the pages the committed tree uses.
func StateOptions(timeout time.Duration) *bbolt.Options {
	return &bbolt.Options{Timeout: timeout, FreelistType: bbolt.FreelistMapType, NoFreelistSync: true}
}
