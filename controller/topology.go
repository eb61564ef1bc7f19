package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// rawPublisher publishes an encoded message; *bus.Client and *bus.Consumer are ones. With it the
// controller encodes the complete topology once per change and publishes the same bytes to every
// request and sync until the topology changes.
type rawPublisher interface {
	Publish(ctx context.Context, topic string, payload []byte, qos byte) error
}

// topologyQoS is the QoS of the CompleteTopologyEvent published from the cache, that of
// PublishEvent's default.
const topologyQoS = 1

// topologyCache is the last CompleteTopologyEvent encoded, for the topology at version.
type topologyCache struct {
	version uint64
	body    []byte
}

// topologyItem is a CompleteTopologyEvent in the outbox: the parts to encode (and cache as
// version), the cached encoding, or, for a bus that takes only events, a snapshot. An item with
// a topic is a cluster's part (topology_part.go), published there and not cached.
type topologyItem struct {
	topic    string
	snapshot *model.Topology
	parts    *topologyParts
	version  uint64
	body     []byte
}

// urgentPublisher publishes a message ahead of the messages queued before it; *bus.Client and
// *bus.Consumer are ones.
type urgentPublisher interface {
	PublishUrgent(ctx context.Context, topic string, payload []byte, qos byte) error
}

// publishTopology queues a CompleteTopologyEvent. Its bytes come from the cache when nothing
// changed since they were encoded; otherwise a snapshot is taken, which the publisher encodes
// and caches. Every change bumps topoVersion in the critical section that makes it, so an answer
// queued after an event never misses it.
//
// With a bus that publishes urgently (urgentPublisher), the event does not wait in the outbox:
// it takes the publisher's topology slot, which the publisher empties before it hands over its
// next event, and goes to the bus ahead of its queued messages (issue 17: at 20 000 members an
// answer waited 2-5 s behind lifecycle and health traffic). It overtakes only events it already
// contains: an event of a later change is queued after the slot was filled (both under mu), so
// the publisher meets the slot first. A request while the slot is full replaces the waiting
// answer with a newer one: concurrent requests are answered by one publication.
func (c *Controller) publishTopology() {
	_, raw := c.bus.(rawPublisher)
	_, urgent := c.bus.(urgentPublisher)
	c.mu.Lock()
	v := c.topoVersion.Load()
	it := &topologyItem{version: v}
	switch cached := c.topoCache.Load(); {
	case raw && cached != nil && cached.version == v:
		it.body = cached.body
	case raw:
		it.parts = c.topologyPartsLocked()
	default:
		it.snapshot = c.snapshotLocked()
	}
	if urgent && raw {
		c.outMu.Lock()
		c.topoNext = it
		c.outMu.Unlock()
		select {
		case c.outSignal <- struct{}{}:
		default:
		}
	} else {
		c.enqueueOut(outItem{topology: it}, false)
	}
	c.mu.Unlock()
	c.stats.topologyPublished.Add(1)
}

// publishUrgentTopology publishes the topology in the slot and the cluster parts waiting, if
// any, ahead of the bus's queue, and reports whether there was one. The publisher calls it before
// each event it hands over.
func (c *Controller) publishUrgentTopology(ctx context.Context) (bool, error) {
	c.outMu.Lock()
	t := c.topoNext
	c.topoNext = nil
	c.outMu.Unlock()
	parts := c.takeUrgentParts()
	if t == nil && parts == nil {
		return false, nil
	}
	var errs []error
	if t != nil {
		errs = append(errs, c.publishTopologyItem(ctx, t, true))
	}
	for _, p := range parts {
		errs = append(errs, c.publishTopologyItem(ctx, p, true))
	}
	return true, errors.Join(errs...)
}

// publishTopologyItem encodes t, when not done yet, and publishes it, urgently or in order.
func (c *Controller) publishTopologyItem(ctx context.Context, t *topologyItem, urgent bool) error {
	body, err := c.topologyBody(t)
	if err != nil {
		return err
	}
	topic := t.topic
	if topic == "" {
		topic = completeTopologyTopic
	} else {
		c.parts.answered.Add(1)
	}
	if urgent {
		return c.bus.(urgentPublisher).PublishUrgent(ctx, topic, body, topologyQoS)
	}
	return c.bus.(rawPublisher).Publish(ctx, topic, body, topologyQoS)
}

// topologyBody returns t's encoding, encoding and caching it when t holds parts.
func (c *Controller) topologyBody(t *topologyItem) ([]byte, error) {
	if t.body == nil {
		start := time.Now() // the real time it took, whatever the controller's clock
		body, err := c.encodeTopology(t.parts)
		if err != nil {
			return nil, fmt.Errorf("publish complete topology: %w", err)
		}
		t.body, t.parts = body, nil
		if t.topic == "" { // the complete topology
			c.stats.topologyEncodes.Add(1)
			c.stats.topologyEncodeNanos.Add(uint64(time.Since(start)))
			if t.version == c.topoVersion.Load() { // a change since makes it stale
				c.topoCache.Store(&topologyCache{version: t.version, body: body})
			}
		}
	}
	return t.body, nil
}

// publishItem publishes one outbox entry; the publisher calls it in outbox order.
func (c *Controller) publishItem(ctx context.Context, it *outItem) error {
	t := it.topology
	if t == nil {
		return c.bus.PublishEvent(ctx, it.ev)
	}
	if _, raw := c.bus.(rawPublisher); !raw || t.snapshot != nil {
		return c.bus.PublishEvent(ctx, &model.CompleteTopologyEvent{Topology: t.snapshot})
	}
	return c.publishTopologyItem(ctx, t, false)
}

// serviceOf is the topology service of a cartridge: its port map and its plain properties
// (payload parameters go to payloads, not to the topology).
func serviceOf(ct *model.Cartridge) *model.Service {
	s := &model.Service{
		ServiceName:         ct.Type,
		ServiceType:         model.SingleTenant,
		ClusterIDClusterMap: map[string]*model.Cluster{},
		PortMap:             ct.PortMap(),
	}
	if ct.MultiTenant {
		s.ServiceType = model.MultiTenant
	}
	for _, p := range ct.Property {
		if !strings.HasPrefix(p.Name, model.PayloadParameterPrefix) {
			if s.Properties == nil {
				s.Properties = model.Properties{}
			}
			s.Properties[p.Name] = string(p.Value)
		}
	}
	return s
}

// Topology returns a deep copy of the topology: every cartridge as a service, with its
// clusters, cluster instances and members.
func (c *Controller) Topology() *model.Topology {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snapshotLocked()
}

func (c *Controller) snapshotLocked() *model.Topology {
	t := &model.Topology{
		ClusterMap:  map[string]*model.Cluster{},
		ServiceMap:  make(map[string]*model.Service, len(c.cartridges)),
		Initialized: true,
	}
	for typ, ct := range c.cartridges {
		t.ServiceMap[typ] = serviceOf(ct)
	}
	for id, cl := range c.clusters {
		s := t.ServiceMap[cl.Spec.ServiceName]
		if s == nil { // cannot happen: a used cartridge cannot be removed
			continue
		}
		s.ClusterIDClusterMap[id] = cloneCluster(cl.Cluster, true)
	}
	return t
}

// cloneCluster copies a cluster, with deep copies of its members when withMembers is set.
func cloneCluster(src *model.Cluster, withMembers bool) *model.Cluster {
	cl := *src
	cl.HostNames = slices.Clone(src.HostNames)
	cl.Properties = maps.Clone(src.Properties)
	cl.AccessURLs = maps.Clone(src.AccessURLs)
	cl.LoadBalancerIPs = slices.Clone(src.LoadBalancerIPs)
	cl.KubernetesServices = slices.Clone(src.KubernetesServices)
	cl.InstanceIDToInstanceContextMap = make(map[string]*model.ClusterInstance, len(src.InstanceIDToInstanceContextMap))
	for id, ci := range src.InstanceIDToInstanceContextMap {
		cl.InstanceIDToInstanceContextMap[id] = cloneClusterInstance(ci)
	}
	cl.MemberMap = map[string]*model.Member{}
	if withMembers {
		cl.MemberMap = make(map[string]*model.Member, len(src.MemberMap))
		for id, m := range src.MemberMap {
			cl.MemberMap[id] = cloneMember(m)
		}
	}
	return &cl
}

func cloneClusterInstance(src *model.ClusterInstance) *model.ClusterInstance {
	ci := *src
	ci.InstanceProperties = maps.Clone(src.InstanceProperties)
	ci.LifeCycleStateManager.StateStack = slices.Clone(src.LifeCycleStateManager.StateStack)
	return &ci
}

func cloneMember(src *model.Member) *model.Member {
	m := *src
	m.PortMap = maps.Clone(src.PortMap)
	m.MemberPublicIPs = slices.Clone(src.MemberPublicIPs)
	m.MemberPrivateIPs = slices.Clone(src.MemberPrivateIPs)
	m.Properties = maps.Clone(src.Properties)
	m.MemberStateManager.StateStack = slices.Clone(src.MemberStateManager.StateStack)
	return &m
}

// Member returns a copy of a member.
func (c *Controller) Member(id string) (model.Member, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.members[id]
	if !ok {
		return model.Member{}, errNotFound("member", id)
	}
	return *cloneMember(m.m), nil
}

// MemberCluster returns the cluster of a member the controller has, without copying the member:
// the broker asks it before every publish of a member credential.
func (c *Controller) MemberCluster(id string) (clusterID string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.members[id]; ok {
		return m.m.ClusterID, true
	}
	return "", false
}

// Members returns copies of the members of a cluster ("" for every cluster), sorted by init
// time, then id.
func (c *Controller) Members(clusterID string) []model.Member {
	c.mu.Lock()
	out := make([]model.Member, 0, len(c.members))
	for _, m := range c.members {
		if clusterID == "" || m.m.ClusterID == clusterID {
			out = append(out, *cloneMember(m.m))
		}
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b model.Member) int {
		return cmp.Or(cmp.Compare(a.InitTime, b.InitTime), strings.Compare(a.MemberID, b.MemberID))
	})
	return out
}

// Cluster returns a copy of a cluster with its members.
func (c *Controller) Cluster(id string) (model.Cluster, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl, ok := c.clusters[id]
	if !ok {
		return model.Cluster{}, errNotFound("cluster", id)
	}
	return *cloneCluster(cl.Cluster, true), nil
}
