package lb

import (
	"context"
	"fmt"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
)

// The topology intake. On a bus that can leave a subscription and count its connections
// (syncFree: a *bus.Client, the out-of-process `strata lb`, or a *bus.Consumer of the platform's
// client, the load balancer of `strata up`), the load balancer takes the complete topology only
// when it asks for one: it follows the topology events it applies topic by topic, subscribes to
// topology/CompleteTopologyEvent only while it waits for an answer, and asks again after every
// reconnect, when it may have missed events (sessions are clean). So it no longer applies the
// controller's sync every minute nor the answers to everybody else's requests: at 100 000 members
// each is ~90 MB to read and decode, and a rebuild of every route (issue 17). On the platform's
// client the load balancer leaves the filter for its own consumer only (bus.Consumer.Unsubscribe):
// the CEP and the autoscaler follow the topology the same way (bus.Consumer.FollowTopology). On
// any other bus it follows topology/# as the Stratos load balancer does.

// syncFree is what the cheaper intake needs of the bus; *bus.Client has it.
type syncFree interface {
	Unsubscribe(ctx context.Context, filter string) error
	Stats() bus.Stats
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

var completeTopologyTopic = model.TopicOf(model.CompleteTopologyEvent{})

// follow subscribes to the topology: topic by topic on a syncFree bus, else topology/#.
func (l *LB) follow(ctx context.Context) error {
	sf, ok := l.opts.Bus.(syncFree)
	if !ok {
		if err := l.opts.Bus.SubscribeEvents(ctx, model.SubscribeTopology, func(_ string, e model.Event) { l.apply(e) }); err != nil {
			return fmt.Errorf("lb: subscribe topology: %w", err)
		}
		return nil
	}
	l.syncFree = sf
	for _, topic := range appliedTopics {
		if err := l.opts.Bus.SubscribeEvents(ctx, topic, func(_ string, e model.Event) { l.apply(e) }); err != nil {
			return fmt.Errorf("lb: subscribe topology: %w", err)
		}
	}
	return l.awaitComplete(ctx)
}

// awaitComplete subscribes to the complete topology, until takeComplete leaves it.
func (l *LB) awaitComplete(ctx context.Context) error {
	l.awaiting = true
	err := l.opts.Bus.SubscribeEvents(ctx, completeTopologyTopic, func(_ string, e model.Event) {
		// The connection count before the answer: a reconnect after it shows as a change.
		l.answeredAt.Store(l.syncFree.Stats().Connects)
		l.apply(e)
	})
	if err != nil {
		return fmt.Errorf("lb: subscribe the complete topology: %w", err)
	}
	return nil
}

// topologyPending is called by Run every TopologyRequestInterval and reports whether to ask for
// the complete topology (again). On a syncFree bus it leaves the complete topology once one has
// come, and asks again after a reconnect; otherwise it asks until the first one has come, and
// stop reports that it never needs to ask again.
func (l *LB) topologyPending(ctx context.Context) (ask, stop bool) {
	l.mu.Lock()
	ready := l.topologyReady
	l.mu.Unlock()
	if l.syncFree == nil {
		return !ready, ready
	}
	switch {
	case ready && l.syncFree.Stats().Connects != l.answeredAt.Load():
		// Reconnected since the answer: events may have been missed meanwhile.
		l.log.Info("reconnected to the broker; asking for the complete topology again")
		l.mu.Lock()
		l.topologyReady = false
		l.mu.Unlock()
		if !l.awaiting {
			if err := l.awaitComplete(ctx); err != nil && ctx.Err() == nil {
				l.log.Warn("cannot follow the complete topology", "error", err)
			}
		}
		return true, false
	case ready && l.awaiting:
		l.awaiting = false
		if err := l.syncFree.Unsubscribe(ctx, completeTopologyTopic); err != nil && ctx.Err() == nil {
			l.log.Warn("cannot leave the complete topology", "error", err)
		}
	}
	return !ready, false
}
