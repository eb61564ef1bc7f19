package controller

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-paas/strata/internal/model"
)

// Collector returns the controller's series, named strata_controller_*: members by state,
// clusters, member starts, start failures and terminations, and the rest of Stats. Each scrape
// reads them afresh; the members are counted under the controller's lock, off every hot path.
func (c *Controller) Collector() prometheus.Collector { return collector{c} }

type collector struct{ c *Controller }

var (
	membersDesc = prometheus.NewDesc("strata_controller_members", "Members in the topology, by lifecycle state.", []string{"state"}, nil)
	statDefs    = []statDef{
		gauge("clusters", "Clusters the controller has.", func(s *Stats) float64 { return float64(s.Clusters) }),
		counter("member_starts_total", "Members whose instance a driver started.", func(s *Stats) uint64 { return s.Starts }),
		counter("member_start_failures_total", "Member starts that failed: a bad request or a driver error.", func(s *Stats) uint64 { return s.StartFailures }),
		counter("member_terminations_total", "Members dropped from the topology (MemberTerminatedEvent), failed starts included.", func(s *Stats) uint64 { return s.Terminations }),
		counter("member_termination_errors_total", "Queued member terminations (undeploy, ready to shut down, graceful timeout) the driver failed.", func(s *Stats) uint64 { return s.TerminationErrors }),
		counter("events_published_total", "Events handed to the bus.", func(s *Stats) uint64 { return s.Published }),
		counter("publish_errors_total", "Events the bus did not take.", func(s *Stats) uint64 { return s.PublishErrors }),
		counter("records_dropped_total", "Lifecycle records history refused.", func(s *Stats) uint64 { return s.RecordsDropped }),
		counter("status_events_total", "Instance and cluster status events handled.", func(s *Stats) uint64 { return s.StatusEvents }),
		counter("invalid_transitions_total", "Status events a lifecycle state machine refused.", func(s *Stats) uint64 { return s.InvalidTransitions }),
		counter("unknown_members_total", "Status events for members the controller does not have.", func(s *Stats) uint64 { return s.UnknownMembers }),
		counter("topology_published_total", "Complete topology events published.", func(s *Stats) uint64 { return s.TopologyPublished }),
		counter("topology_encodes_total", "Complete topology events encoded; the others were published from the cache.", func(s *Stats) uint64 { return s.TopologyEncodes }),
		statDef{prometheus.NewDesc("strata_controller_topology_encode_seconds_total", "Time spent encoding complete topology events.", nil, nil), prometheus.CounterValue,
			func(s *Stats) float64 { return s.TopologyEncodeTime.Seconds() }},
		counter("topology_syncs_skipped_total", "Periodic complete topology events not published: the topology had not changed and nobody had subscribed since the last one.", func(s *Stats) uint64 { return s.TopologySkipped }),
		counter("members_adopted_total", "Members adopted from the drivers after a restart.", func(s *Stats) uint64 { return s.Adopted }),
		counter("state_writes_total", "Transactions the controller wrote members' state in (each ends with an fdatasync).", func(s *Stats) uint64 { return s.StateWrites }),
		counter("instances_exited_total", "Instances a driver reported as ended on their own.", func(s *Stats) uint64 { return s.Exited }),
	}
)

type statDef struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*Stats) float64
}

func counter(name, help string, f func(*Stats) uint64) statDef {
	return statDef{prometheus.NewDesc("strata_controller_"+name, help, nil, nil), prometheus.CounterValue,
		func(s *Stats) float64 { return float64(f(s)) }}
}

func gauge(name, help string, f func(*Stats) float64) statDef {
	return statDef{prometheus.NewDesc("strata_controller_"+name, help, nil, nil), prometheus.GaugeValue, f}
}

func (collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- membersDesc
	for _, d := range statDefs {
		ch <- d.desc
	}
}

func (x collector) Collect(ch chan<- prometheus.Metric) {
	states := model.MemberStatuses()
	counts := make(map[model.MemberStatus]int, len(states))
	x.c.mu.Lock()
	for _, cl := range x.c.clusters { // the member index's counts: a scrape does not walk every member
		for _, ix := range cl.index {
			for st, n := range ix.counts {
				counts[st] += n
			}
		}
	}
	x.c.mu.Unlock()
	for _, st := range states {
		ch <- prometheus.MustNewConstMetric(membersDesc, prometheus.GaugeValue, float64(counts[st]), string(st))
	}
	s := x.c.Stats()
	for _, d := range statDefs {
		ch <- prometheus.MustNewConstMetric(d.desc, d.typ, d.value(&s))
	}
}
