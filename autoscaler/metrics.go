package autoscaler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-paas/strata/policies"
)

// decisionActions and decisionModes are the label values of strata_autoscaler_decisions_total,
// in the order of metrics.decisions' indexes.
var (
	decisionActions = [...]string{ActionNone, ActionScaleUp, ActionScaleDown, ActionMin, ActionMax, ActionMissingMetrics, ActionTerminating}
	decisionModes   = [...]string{string(policies.ModeEnforce), string(policies.ModeDryRun), string(policies.ModeShadow)}
)

// metrics are the autoscaler's Prometheus series besides Stats. Every child of a vector is
// resolved in newMetrics, so counting a decision or a round looks nothing up and allocates
// nothing.
type metrics struct {
	rounds      prometheus.Counter
	evaluations prometheus.Counter
	roundTime   prometheus.Histogram
	ruleErrors  prometheus.Counter
	decisions   [len(decisionModes)][len(decisionActions) + 1]prometheus.Counter // the last: an action not listed
	collectors  []prometheus.Collector
}

func newMetrics() *metrics {
	m := &metrics{
		rounds: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_autoscaler_rounds_total",
			Help: "Scheduler rounds that evaluated at least one cluster instance."}),
		evaluations: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_autoscaler_evaluations_total",
			Help: "Cluster instance evaluations (one per instance due in a round)."}),
		roundTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "strata_autoscaler_round_seconds",
			Help:    "Time a round took: deciding, then starting and terminating members.",
			Buckets: []float64{.0001, .0005, .001, .005, .01, .05, .1, .5, 1, 5, 30}}),
		ruleErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_autoscaler_rule_errors_total",
			Help: "Policy rule evaluations that failed (the rule is skipped; the trace says why)."}),
	}
	dec := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_autoscaler_decisions_total",
		Help: "Decisions recorded, by action and policy mode."}, []string{"action", "mode"})
	for i, mode := range decisionModes {
		for j, action := range decisionActions {
			m.decisions[i][j] = dec.WithLabelValues(action, mode)
		}
		m.decisions[i][len(decisionActions)] = dec.WithLabelValues("other", mode)
	}
	m.collectors = []prometheus.Collector{m.rounds, m.evaluations, m.roundTime, m.ruleErrors, dec}
	return m
}

// decision counts one recorded decision.
func (m *metrics) decision(mode, action string) {
	i := 0
	for i < len(decisionModes)-1 && decisionModes[i] != mode {
		i++
	}
	j := 0
	for j < len(decisionActions) && decisionActions[j] != action {
		j++
	}
	m.decisions[i][j].Inc()
}

// round counts a round that evaluated n instances and took d.
func (m *metrics) round(n int, d time.Duration) {
	if n == 0 {
		return
	}
	m.rounds.Inc()
	m.evaluations.Add(float64(n))
	m.roundTime.Observe(d.Seconds())
}

// Collector returns the autoscaler's series, named strata_autoscaler_*: rounds, round time,
// decisions by action and mode, rule errors, and the counters and gauges of Stats.
func (a *Autoscaler) Collector() prometheus.Collector { return collector{a} }

type collector struct{ a *Autoscaler }

type statDef struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*Stats) float64
}

func statCounter(name, help string, f func(*Stats) uint64) statDef {
	return statDef{prometheus.NewDesc("strata_autoscaler_"+name, help, nil, nil), prometheus.CounterValue,
		func(s *Stats) float64 { return float64(f(s)) }}
}

func statGauge(name, help string, f func(*Stats) int) statDef {
	return statDef{prometheus.NewDesc("strata_autoscaler_"+name, help, nil, nil), prometheus.GaugeValue,
		func(s *Stats) float64 { return float64(f(s)) }}
}

var statDefs = []statDef{
	statCounter("summaries_total", "CEP summaries received.", func(s *Stats) uint64 { return s.Summaries }),
	statCounter("unrouted_total", "Summaries and events for no known cluster instance or member.", func(s *Stats) uint64 { return s.Unrouted }),
	statCounter("events_total", "Topology and member events handled.", func(s *Stats) uint64 { return s.Events }),
	statCounter("actions_total", "Start and terminate calls made to the cloud controller.", func(s *Stats) uint64 { return s.Actions }),
	statCounter("starts_cancelled_total", "Member starts a round decided for a cluster removed (undeployed) before they were made.", func(s *Stats) uint64 { return s.StartsCancelled }),
	statCounter("start_errors_total", "Member starts the cloud controller refused or failed.", func(s *Stats) uint64 { return s.StartErrors }),
	statCounter("terminate_errors_total", "Member terminations that failed.", func(s *Stats) uint64 { return s.TerminateErrors }),
	statCounter("publish_errors_total", "Events and decisions the bus did not take.", func(s *Stats) uint64 { return s.PublishErrors }),
	statCounter("decisions_dropped_total", "Decisions the history recorder dropped.", func(s *Stats) uint64 { return s.Dropped }),
	statGauge("cluster_instances", "Cluster instances monitored.", func(s *Stats) int { return s.ClusterInstances }),
	statGauge("members", "Members the monitors know.", func(s *Stats) int { return s.Members }),
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range statDefs {
		ch <- d.desc
	}
	for _, m := range c.a.metrics.collectors {
		m.Describe(ch)
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.a.Stats()
	for _, d := range statDefs {
		ch <- prometheus.MustNewConstMetric(d.desc, d.typ, d.value(&s))
	}
	for _, m := range c.a.metrics.collectors {
		m.Collect(ch)
	}
}
