package cep

import (
	"context"

	"github.com/strata-paas/strata/internal/model"
)

// HandleTopology feeds one topology event to the engine, as the Stratos CEP's topology receiver
// does: CompleteTopologyEvent seeds and reconciles the watched members, MemberActivatedEvent
// starts watching a member, MemberTerminatedEvent releases it, ClusterRemovedEvent and
// ApplicationClustersRemovedEvent release clusters. Other events are ignored. Its signature is
// that of bus.EventHandler: `client.SubscribeEvents(ctx, "topology/#", engine.HandleTopology)`.
func (e *Engine) HandleTopology(_ string, ev model.Event) {
	switch ev := ev.(type) {
	case *model.CompleteTopologyEvent:
		if ev != nil {
			e.SeedTopology(topologyMembers(ev.Topology))
		}
	case model.CompleteTopologyEvent:
		e.SeedTopology(topologyMembers(ev.Topology))
	case *model.MemberActivatedEvent:
		if ev != nil {
			e.MemberActivated(activated(ev))
		}
	case model.MemberActivatedEvent:
		e.MemberActivated(activated(&ev))
	case *model.MemberTerminatedEvent:
		if ev != nil {
			e.MemberTerminated(ev.MemberID)
		}
	case model.MemberTerminatedEvent:
		e.MemberTerminated(ev.MemberID)
	case *model.ClusterRemovedEvent:
		if ev != nil {
			e.ClusterRemoved(ev.ClusterID)
		}
	case model.ClusterRemovedEvent:
		e.ClusterRemoved(ev.ClusterID)
	case *model.ApplicationClustersRemovedEvent:
		if ev != nil {
			for _, c := range ev.ClusterData {
				e.ClusterRemoved(c.ClusterID)
			}
		}
	case model.ApplicationClustersRemovedEvent:
		for _, c := range ev.ClusterData {
			e.ClusterRemoved(c.ClusterID)
		}
	}
}

func activated(ev *model.MemberActivatedEvent) Member {
	return Member{ClusterID: ev.ClusterID, ClusterInstanceID: ev.ClusterInstanceID,
		NetworkPartitionID: ev.NetworkPartitionID, PartitionID: ev.PartitionID, MemberID: ev.MemberID, Active: true}
}

// topologyMembers lists the members of a complete topology: those of every service's clusters and
// of the (normally empty) top-level cluster map.
func topologyMembers(t *model.Topology) []Member {
	if t == nil {
		return nil
	}
	var out []Member
	addCluster := func(c *model.Cluster) {
		if c == nil {
			return
		}
		for _, m := range c.MemberMap {
			if m == nil || m.MemberID == "" {
				continue
			}
			cluster := m.ClusterID
			if cluster == "" {
				cluster = c.ClusterID
			}
			out = append(out, Member{ClusterID: cluster, ClusterInstanceID: m.ClusterInstanceID,
				NetworkPartitionID: m.NetworkPartitionID, PartitionID: m.PartitionID, MemberID: m.MemberID,
				Active: m.Status() == model.MemberActive})
		}
	}
	for _, s := range t.ServiceMap {
		if s == nil {
			continue
		}
		for _, c := range s.ClusterIDClusterMap {
			addCluster(c)
		}
	}
	for _, c := range t.ClusterMap {
		addCluster(c)
	}
	return out
}

// eventPublisher is what the engine needs from a bus client to publish summaries
// (internal/bus.Client has it).
type eventPublisher interface {
	PublishEvent(ctx context.Context, e model.Event) error
}

// BusPublisher returns a Publisher that sends summaries through a bus client: model.Marshal puts
// them in the §1.4 envelope and the client publishes them on model.SummaryTopic.
func BusPublisher(c eventPublisher) Publisher {
	return PublishFunc(func(ctx context.Context, s model.Summary) error { return c.PublishEvent(ctx, s) })
}
