package lb

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
)

// clusterStats holds a cluster's round-robin position and in-flight accounting per cluster
// instance.
type clusterStats struct {
	id string
	rr atomic.Uint64

	mu                 sync.Mutex
	networkPartitionID string                    // the first member's, for samples of instances without one
	instances          map[string]*instanceStats // cluster instance id -> stats
}

// learnNetworkPartition keeps np as the cluster's network partition unless it has one: the
// topology goroutine calls it while sample reads it.
func (cs *clusterStats) learnNetworkPartition(np string) {
	if np == "" {
		return
	}
	cs.mu.Lock()
	if cs.networkPartitionID == "" {
		cs.networkPartitionID = np
	}
	cs.mu.Unlock()
}

// instanceStats integrates the number of requests in flight over time, so the published value
// is the time-weighted average of the interval (Little's law) rather than an instant that short
// requests would mostly miss.
type instanceStats struct {
	id, networkPartitionID string

	mu       sync.Mutex
	inFlight int64
	area     float64 // request-seconds since the last sample
	last     time.Time
}

func (s *instanceStats) add(now time.Time, d int64) {
	s.mu.Lock()
	if !s.last.IsZero() {
		s.area += float64(s.inFlight) * now.Sub(s.last).Seconds()
	}
	s.inFlight += d
	s.last = now
	s.mu.Unlock()
}

// sample returns the average in flight since the previous sample and starts a new interval.
func (s *instanceStats) sample(now time.Time, interval time.Duration) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.last.IsZero() {
		s.area += float64(s.inFlight) * now.Sub(s.last).Seconds()
	}
	s.last = now
	v := float64(s.inFlight)
	if interval > 0 {
		v = s.area / interval.Seconds()
	}
	s.area = 0
	return v
}

// prune forgets the cluster instances no member belongs to any more, once idle.
func (cs *clusterStats) prune(members map[string]*member) {
	keep := map[string]bool{}
	for _, m := range members {
		id := m.instanceID
		if id == "" {
			id = model.NotDefined
		}
		keep[id] = true
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for id, s := range cs.instances {
		s.mu.Lock()
		idle := s.inFlight == 0
		s.mu.Unlock()
		if !keep[id] && idle {
			delete(cs.instances, id)
		}
	}
}

func (cs *clusterStats) instance(id, np string) *instanceStats {
	if id == "" {
		id = model.NotDefined
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	s := cs.instances[id]
	if s == nil {
		s = &instanceStats{id: id, networkPartitionID: np}
		cs.instances[id] = s
	}
	return s
}

// publishStats sends one in_flight_requests event per cluster instance the load balancer knows
// (§2.6): the average number of requests in flight since the previous publication.
func (l *LB) publishStats(ctx context.Context) error {
	now := l.opts.Now()
	l.mu.Lock()
	interval := now.Sub(l.lastSample)
	l.lastSample = now
	l.mu.Unlock()
	events := l.sample(now, interval)
	if l.opts.CEP == nil || len(events) == 0 {
		return nil
	}
	var errs []error
	for _, e := range events {
		errs = append(errs, l.opts.CEP.Publish(ctx, e))
	}
	return errors.Join(errs...)
}

// sample computes the in-flight events of every cluster: one per cluster instance that has
// members, or one with cluster instance "not-defined" for a cluster with none.
func (l *LB) sample(now time.Time, interval time.Duration) []databridge.Event {
	t := l.table.Load()
	var out []databridge.Event
	for _, cs := range t.clusters {
		cs.mu.Lock()
		insts := make([]*instanceStats, 0, len(cs.instances))
		for _, s := range cs.instances {
			insts = append(insts, s)
		}
		clusterNP := cs.networkPartitionID
		cs.mu.Unlock()
		sort.Slice(insts, func(i, j int) bool { return insts[i].id < insts[j].id })
		if len(insts) == 0 {
			insts = []*instanceStats{{id: model.NotDefined}}
		}
		for _, s := range insts {
			np := s.networkPartitionID
			if np == "" {
				np = clusterNP
			}
			if np == "" {
				np = l.opts.NetworkPartitionID
			}
			out = append(out, databridge.InFlightEvent(model.HealthSample{
				ClusterID: cs.id, ClusterInstanceID: s.id, NetworkPartitionID: np,
				Value: s.sample(now, interval), Timestamp: now.UnixMilli(),
			}))
		}
	}
	return out
}
