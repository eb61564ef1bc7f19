package controller

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/strata-paas/strata/internal/model"
)

// A cluster's part of the topology is Strata's cheaper path for its own agents (issue 17): a
// ClusterTopologyRequestEvent names a cluster, and the answer, on ClusterTopologyTopic(cluster),
// is a CompleteTopologyEvent body that holds only that cluster (with its members) under its
// service. An agent that starts asks for its own cluster instead of the whole topology, which at
// 100 000 members is ~90 MB: N agents starting asked for N whole topologies, all of which went
// to every subscriber of topology/#. The part is assembled from the members' cached JSON like the
// complete topology (encodeTopology), so an answer costs a copy of the cluster's bytes.
//
// Answers are throttled per cluster like the complete topology (TopologyThrottle): requests for
// a cluster within the throttle after its last answer are answered once when it ends, and
// requests while an answer waits for the bus share it.

// partAnswers is the state of the cluster-part answers.
type partAnswers struct {
	mu        sync.Mutex
	requested map[string]bool // cluster ids asked since the answerer last looked
	signal    chan struct{}   // wakes the answerer; made by signalLocked

	// next are the answers waiting for the publisher, by cluster id; guarded by Controller.outMu.
	next map[string]*topologyItem

	answered   atomic.Uint64 // parts handed to the bus
	unanswered atomic.Uint64 // requests a bus that takes only events could not answer
}

// signalLocked returns the answerer's wake-up channel, making it on first use; p.mu is held.
func (p *partAnswers) signalLocked() chan struct{} {
	if p.signal == nil {
		p.signal = make(chan struct{}, 1)
		p.requested = map[string]bool{}
	}
	return p.signal
}

// requestClusterTopology is the bus handler of ClusterTopologyRequestEvent: it hands the cluster
// id to the answerer and never blocks the bus.
func (c *Controller) requestClusterTopology(_ string, e model.Event) {
	ev, ok := e.(*model.ClusterTopologyRequestEvent)
	if !ok || ev.ClusterID == "" {
		return
	}
	p := &c.parts
	p.mu.Lock()
	sig := p.signalLocked()
	p.requested[ev.ClusterID] = true
	p.mu.Unlock()
	select {
	case sig <- struct{}{}:
	default:
	}
}

// answerParts answers the cluster-part requests until ctx ends, each cluster at most once per
// TopologyThrottle.
func (c *Controller) answerParts(ctx context.Context) {
	p := &c.parts
	p.mu.Lock()
	sig := p.signalLocked()
	p.mu.Unlock()
	answers := newThrottle(c.clock, c.opts.TopologyThrottle)
	defer answers.stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		case <-answers.due():
		}
		p.mu.Lock()
		asked := slices.Collect(maps.Keys(p.requested))
		clear(p.requested)
		p.mu.Unlock()
		if answer := answers.take(asked...); len(answer) > 0 {
			c.publishClusterParts(answer)
		}
	}
}

// publishClusterParts queues the parts of the clusters named. Like publishTopology it takes the
// parts under mu, so an answer holds every change queued before it and none queued after; with a
// bus that publishes urgently it goes ahead of the queued messages (those it contains), and an
// answer still waiting for a cluster is replaced by the newer one.
func (c *Controller) publishClusterParts(ids []string) {
	_, raw := c.bus.(rawPublisher)
	_, urgent := c.bus.(urgentPublisher)
	if !raw {
		c.parts.unanswered.Add(uint64(len(ids)))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	items := make([]*topologyItem, len(ids))
	for i, id := range ids {
		items[i] = &topologyItem{topic: model.ClusterTopologyTopic(id), parts: c.clusterPartsLocked(id)}
	}
	if !urgent {
		for _, it := range items {
			c.enqueueOut(outItem{topology: it}, false)
		}
		return
	}
	c.outMu.Lock()
	if c.parts.next == nil {
		c.parts.next = map[string]*topologyItem{}
	}
	for i, id := range ids {
		c.parts.next[id] = items[i]
	}
	c.outMu.Unlock()
	select {
	case c.outSignal <- struct{}{}:
	default:
	}
}

// takeUrgentParts empties the urgent cluster-part slot.
func (c *Controller) takeUrgentParts() map[string]*topologyItem {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	if len(c.parts.next) == 0 {
		return nil
	}
	next := c.parts.next
	c.parts.next = nil
	return next
}

// clusterPartsLocked takes the parts of the topology that holds only the cluster id, under its
// service; a topology without services when the controller has no such cluster.
func (c *Controller) clusterPartsLocked(id string) *topologyParts {
	p := newTopologyParts(1)
	cl := c.clusters[id]
	if cl == nil {
		return p
	}
	ct := c.cartridges[cl.Spec.ServiceName]
	if ct == nil { // cannot happen: a used cartridge cannot be removed
		return p
	}
	p.skeleton.ServiceMap[cl.Spec.ServiceName] = serviceOf(ct)
	c.addClusterPartLocked(p, id, cl)
	return p
}
