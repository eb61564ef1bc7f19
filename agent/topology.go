package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
)

// The agent's topology intake (docs/stratos-wire.md §7.3 steps 1-3). Against Strata's controller
// it asks for its own cluster's part of the topology (ClusterTopologyRequestEvent, answered on
// model.ClusterTopologyTopic) and follows only the member events it handles, so it never
// receives the complete topology, ~90 MB at 100 000 members, neither when it starts nor with
// every periodic sync. When no part comes after partAttempts requests (a Stratos-compatible
// controller, or a broker whose ACL refuses the part's topic) it falls back to what the Python
// agent does: CompleteTopologyRequestEvent and the CompleteTopologyEvent on topology/. An agent
// with an LB_CLUSTER_ID other than its own cluster needs that cluster too and uses the complete
// topology from the start.

// partAttempts is how many ClusterTopologyRequestEvents go unanswered before the agent falls
// back to the complete topology.
const partAttempts = 2

// memberEventTopics are the topology events the agent handles (handle).
var memberEventTopics = []string{
	model.TopicOf(model.MemberInitializedEvent{}),
	model.TopicOf(model.MemberStartedEvent{}),
	model.TopicOf(model.MemberActivatedEvent{}),
	model.TopicOf(model.MemberTerminatedEvent{}),
	model.TopicOf(model.MemberSuspendedEvent{}),
	model.TopicOf(model.MemberMaintenanceModeEvent{}),
	model.TopicOf(model.MemberReadyToShutdownEvent{}),
}

var completeTopologyTopic = model.TopicOf(model.CompleteTopologyEvent{})

// followTopology subscribes to what the agent reads of the topology: with the part, the member
// events and the cluster's part topic; without it, topology/# as the Python agent does. The
// subscriptions are made on connect, before anything queued is sent, so a request cannot
// overtake them.
func (a *Agent) followTopology(ctx context.Context) error {
	part := a.cfg.LBClusterID == "" || a.cfg.LBClusterID == a.cfg.ClusterID
	a.mu.Lock()
	a.partMode = part
	a.mu.Unlock()
	if !part {
		if err := a.bus.SubscribeEvents(ctx, model.SubscribeTopology, a.enqueue(ctx)); err != nil {
			return fmt.Errorf("subscribe topology: %w", err)
		}
		return nil
	}
	for _, t := range memberEventTopics {
		if err := a.bus.SubscribeEvents(ctx, t, a.enqueue(ctx)); err != nil {
			return fmt.Errorf("subscribe topology: %w", err)
		}
	}
	err := a.bus.Subscribe(ctx, model.ClusterTopologyTopic(a.cfg.ClusterID), a.onPart(ctx))
	switch {
	case errors.Is(err, bus.ErrSubscribeRejected):
		a.log.Info("the broker refused the cluster's part of the topology; asking for the complete topology", "error", err)
		return a.fallBack(ctx)
	case err != nil:
		return fmt.Errorf("subscribe the cluster's topology: %w", err)
	}
	return nil
}

// onPart is the handler of the cluster's part: a CompleteTopologyEvent body on a topic of its own.
func (a *Agent) onPart(ctx context.Context) bus.Handler {
	handle := a.enqueue(ctx)
	return func(topic string, payload []byte) {
		e, err := model.Unmarshal(completeTopologyTopic, payload)
		if err != nil {
			a.log.Warn("cannot decode the cluster's part of the topology", "topic", topic, "error", err)
			return
		}
		handle(topic, e)
	}
}

// fallBack turns to the complete topology: the agent subscribes to it and asks for it from now on.
func (a *Agent) fallBack(ctx context.Context) error {
	a.mu.Lock()
	a.partMode = false
	a.mu.Unlock()
	if err := a.bus.SubscribeEvents(ctx, completeTopologyTopic, a.enqueue(ctx)); err != nil {
		return fmt.Errorf("subscribe topology: %w", err)
	}
	return nil
}

// requestTopology asks for the cluster's part, or for the complete topology.
func (a *Agent) requestTopology(ctx context.Context) {
	a.mu.Lock()
	part := a.partMode
	if part {
		a.partAsked++
	}
	a.mu.Unlock()
	var req model.Event = model.CompleteTopologyRequestEvent{}
	if part {
		req = model.ClusterTopologyRequestEvent{ClusterID: a.cfg.ClusterID}
	}
	if err := a.bus.PublishEvent(ctx, req); err != nil && ctx.Err() == nil {
		a.log.Warn("cannot request the topology", "error", err)
	}
}

// topologyPending reports whether the agent still asks for the topology; the dispatcher calls it
// every TopologyRequestInterval. The complete topology is asked for until it comes (the periodic
// syncs bring it again). The part is asked for until the member is initialized, as no sync
// repeats it; then the agent leaves its topic. After partAttempts unanswered requests for the
// part the agent falls back to the complete topology.
func (a *Agent) topologyPending(ctx context.Context) bool {
	a.mu.Lock()
	part, ready, init := a.partMode, a.topologyReady, a.initialized
	fallBack := part && !ready && a.partAsked >= partAttempts
	a.mu.Unlock()
	switch {
	case fallBack:
		a.log.Info("no answer to the cluster topology request; asking for the complete topology", "requests", partAttempts)
		if err := a.fallBack(ctx); err != nil && ctx.Err() == nil {
			a.log.Error("cannot follow the complete topology", "error", err)
		}
		return true
	case !part:
		return !ready
	case !init:
		return true
	}
	a.spawn(func() {
		if err := a.bus.Unsubscribe(ctx, model.ClusterTopologyTopic(a.cfg.ClusterID)); err != nil && ctx.Err() == nil {
			a.log.Warn("cannot leave the cluster's topology topic", "error", err)
		}
	})
	return false
}

func (a *Agent) onCompleteTopology(ctx context.Context, ev *model.CompleteTopologyEvent) {
	if ev.Topology == nil {
		return
	}
	a.mu.Lock()
	first := !a.topologyReady
	// The agent adopts the event's topology and updates it with later member events: the bus
	// shares an event among the subscriptions a message reaches, and only one of the agent's
	// matches any topic (topology/# or the member events and, as a fallback, the complete one).
	a.topology, a.topologyReady = ev.Topology, true
	_, _, self := a.findSelfLocked()
	// Initialized is the PCA's condition. Starting and Active mean this agent was restarted in a
	// running member: it announces itself again (the controller allows Active -> Starting).
	ready := self != nil && (self.Status() == model.MemberInitialized || self.Status() == model.MemberStarting ||
		self.Status() == model.MemberActive)
	a.mu.Unlock()
	if first {
		a.log.Info("complete topology received")
		topo, _ := json.Marshal(ev.Topology)
		var members []*model.Member
		a.mu.Lock()
		if _, cl, _ := a.findSelfLocked(); cl != nil {
			for _, m := range cl.MemberMap {
				members = append(members, m)
			}
		}
		list, _ := json.Marshal(members)
		a.mu.Unlock()
		a.spawn(func() {
			a.extension(ctx, ExtCompleteTopology, map[string]string{"TOPOLOGY_JSON": string(topo), "MEMBER_LIST_JSON": string(list)})
		})
	}
	if ready {
		a.initialize(ctx) // §7.3 step 4 (a)
	}
}

func (a *Agent) memberLocked(service, cluster, member string) *model.Member {
	if a.topology == nil {
		return nil
	}
	s := a.topology.ServiceMap[service]
	if s == nil {
		return nil
	}
	c := s.ClusterIDClusterMap[cluster]
	if c == nil {
		return nil
	}
	return c.MemberMap[member]
}

// findSelfLocked finds this member's service, cluster and member in the local topology.
func (a *Agent) findSelfLocked() (*model.Service, *model.Cluster, *model.Member) {
	if a.topology == nil {
		return nil, nil, nil
	}
	s := a.topology.ServiceMap[a.cfg.ServiceName]
	if s == nil {
		return nil, nil, nil
	}
	c := s.ClusterIDClusterMap[a.cfg.ClusterID]
	if c == nil {
		return s, nil, nil
	}
	return s, c, c.MemberMap[a.cfg.MemberID]
}

// lbIPsLocked returns the private and public IP of a member of LB_CLUSTER_ID, if there is one.
func (a *Agent) lbIPsLocked() (string, string) {
	if a.cfg.LBClusterID == "" || a.topology == nil {
		return "", ""
	}
	for _, s := range a.topology.ServiceMap {
		if c := s.ClusterIDClusterMap[a.cfg.LBClusterID]; c != nil {
			for _, m := range c.MemberMap {
				return m.DefaultPrivateIP, m.DefaultPublicIP
			}
		}
	}
	return "", ""
}
