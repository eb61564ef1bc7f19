package lb

import (
	"context"
	"fmt"
	"time"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
)

// The topology intake. On a bus that follows the topology (topologyFollower: a *bus.Client, the
// out-of-process `strata lb`, or a *bus.Consumer of the platform's client, the load balancer of
// `strata up`), the load balancer takes the complete topology only when it asks for one
// (bus.Consumer.FollowTopology): it follows the topology events it applies topic by topic, reads
// a complete topology at start and after every reconnect, when it may have missed events
// (sessions are clean), and neither the controller's sync every minute nor the answers to
// everybody else's requests: at 100 000 members each is ~90 MB to read and decode, and a rebuild
// of every route (issue 17). On any other bus it follows topology/# and asks until the first
// complete topology, as the Stratos load balancer does.

// topologyFollower is a bus that takes the complete topology only when asked for.
type topologyFollower interface {
	FollowTopology(ctx context.Context, topics []string, handler bus.EventHandler, ask time.Duration) error
}

// appliedTopics are the topology events apply handles, besides CompleteTopologyEvent.
var appliedTopics = []string{
	model.TopicOf(model.ServiceCreatedEvent{}),
	model.TopicOf(model.ServiceRemovedEvent{}),
	model.TopicOf(model.ClusterCreatedEvent{}),
	model.TopicOf(model.ApplicationClustersCreatedEvent{}),
	model.TopicOf(model.ClusterRemovedEvent{}),
	model.TopicOf(model.ApplicationClustersRemovedEvent{}),
	model.TopicOf(model.ClusterInstanceTerminatedEvent{}),
	model.TopicOf(model.MemberCreatedEvent{}),
	model.TopicOf(model.MemberInitializedEvent{}),
	model.TopicOf(model.MemberStartedEvent{}),
	model.TopicOf(model.MemberActivatedEvent{}),
	model.TopicOf(model.MemberMaintenanceModeEvent{}),
	model.TopicOf(model.MemberReadyToShutdownEvent{}),
	model.TopicOf(model.MemberSuspendedEvent{}),
	model.TopicOf(model.MemberTerminatedEvent{}),
}

// follow subscribes to the topology and reports whether the bus asks for the complete topology
// itself (a topologyFollower); otherwise Run asks until the first one has come.
func (l *LB) follow(ctx context.Context) (asks bool, err error) {
	apply := func(_ string, e model.Event) { l.apply(e) }
	if f, ok := l.opts.Bus.(topologyFollower); ok {
		if err := f.FollowTopology(ctx, appliedTopics, apply, l.opts.TopologyRequestInterval); err != nil {
			return false, fmt.Errorf("lb: follow the topology: %w", err)
		}
		return true, nil
	}
	if err := l.opts.Bus.SubscribeEvents(ctx, model.SubscribeTopology, apply); err != nil {
		return false, fmt.Errorf("lb: subscribe topology: %w", err)
	}
	return false, nil
}
