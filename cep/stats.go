package cep

import "github.com/prometheus/client_golang/prometheus"

// Stats are the engine's counters (monotonic unless marked as a gauge).
type Stats struct {
	Ingested       uint64 // health and in-flight samples processed
	Unknown        uint64 // samples with an unknown metric or a non-finite value, malformed events, events of unknown streams, non-finite results
	Logs           uint64 // log lines received
	Summaries      uint64 // window summaries emitted
	Faults         uint64 // member faults raised (silences and ports_not_open)
	FaultsShed     uint64 // ports_not_open faults dropped because Run was not draining them
	WindowOverflow uint64 // events beyond MaxWindowEvents in one key's window (see window.go)
	HistoryShed    uint64 // raw samples not handed to history (buffer full or Recorder error)
	LogsShed       uint64 // log lines not handed to history
	HistoryErrors  uint64 // failed Recorder calls (failed summary batches are retried)
	HistoryBacklog int    // gauge: summaries waiting for the Recorder
	PublishShed    uint64 // summaries not published because the publish buffer was full
	PublishErrors  uint64 // failed Publisher calls
	PublishUnheard uint64 // summaries not published because nobody listened (Options.Heard)
	PublishBacklog int    // gauge: summaries waiting for the Publisher
	Members        int    // gauge: members with state
	ClusterKeys    int    // gauge: key(ci) states
	PartitionKeys  int    // gauge: key(np) states
	WatchedMembers int    // gauge: members watched for silence
	PendingFaults  int    // gauge: ports_not_open faults not yet delivered
	RawBacklog     int    // gauge: raw samples waiting for the Recorder
	LogBacklog     int    // gauge: log lines waiting for the Recorder
}

// Stats returns a snapshot of the counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	s := Stats{
		Ingested:       e.st.ingested,
		Unknown:        e.st.unknown,
		Logs:           e.st.logs,
		Summaries:      e.st.summaries,
		Faults:         e.st.faults,
		FaultsShed:     e.st.faultsShed,
		WindowOverflow: e.st.overflow,
		HistoryShed:    e.rawShed,
		Members:        len(e.members),
		ClusterKeys:    len(e.cis),
		PartitionKeys:  len(e.nps),
		PendingFaults:  len(e.faults),
		RawBacklog:     len(e.raw),
	}
	s.WatchedMembers = len(e.watched)
	e.mu.Unlock()
	s.HistoryBacklog, _ = e.hist.stats()
	s.LogBacklog, s.LogsShed = e.logs.stats()
	s.PublishBacklog, s.PublishShed = e.pub.stats()
	s.HistoryErrors = e.errs.history.Load()
	s.PublishErrors = e.errs.publish.Load()
	s.PublishUnheard = e.unheard.Load()
	return s
}

// Collector returns a prometheus.Collector of the engine's Stats, named strata_cep_*.
func (e *Engine) Collector() prometheus.Collector { return collector{e} }

type collector struct{ e *Engine }

type metricDef struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*Stats) float64
}

func counter(name, help string, f func(*Stats) float64) metricDef {
	return metricDef{prometheus.NewDesc("strata_cep_"+name, help, nil, nil), prometheus.CounterValue, f}
}

func gauge(name, help string, f func(*Stats) float64) metricDef {
	return metricDef{prometheus.NewDesc("strata_cep_"+name, help, nil, nil), prometheus.GaugeValue, f}
}

var metricDefs = []metricDef{
	counter("ingested_total", "Health and in-flight samples processed.", func(s *Stats) float64 { return float64(s.Ingested) }),
	counter("unknown_total", "Samples or events the CEP could not use.", func(s *Stats) float64 { return float64(s.Unknown) }),
	counter("logs_total", "Log lines received.", func(s *Stats) float64 { return float64(s.Logs) }),
	counter("summaries_total", "Window summaries emitted.", func(s *Stats) float64 { return float64(s.Summaries) }),
	counter("faults_total", "Member faults raised.", func(s *Stats) float64 { return float64(s.Faults) }),
	counter("faults_shed_total", "Faults dropped: Run not draining.", func(s *Stats) float64 { return float64(s.FaultsShed) }),
	counter("window_overflow_total", "Events beyond the per-key window bound.", func(s *Stats) float64 { return float64(s.WindowOverflow) }),
	counter("history_shed_total", "Raw samples not handed to history.", func(s *Stats) float64 { return float64(s.HistoryShed) }),
	counter("logs_shed_total", "Log lines not handed to history.", func(s *Stats) float64 { return float64(s.LogsShed) }),
	counter("history_errors_total", "Failed history calls.", func(s *Stats) float64 { return float64(s.HistoryErrors) }),
	gauge("history_backlog", "Summaries waiting for history.", func(s *Stats) float64 { return float64(s.HistoryBacklog) }),
	counter("publish_shed_total", "Summaries not published: buffer full.", func(s *Stats) float64 { return float64(s.PublishShed) }),
	counter("publish_errors_total", "Failed publishes.", func(s *Stats) float64 { return float64(s.PublishErrors) }),
	counter("publish_unheard_total", "Summaries not published: no subscriber.", func(s *Stats) float64 { return float64(s.PublishUnheard) }),
	gauge("publish_backlog", "Summaries waiting to be published.", func(s *Stats) float64 { return float64(s.PublishBacklog) }),
	gauge("members", "Members with state.", func(s *Stats) float64 { return float64(s.Members) }),
	gauge("cluster_keys", "Cluster-instance keys with state.", func(s *Stats) float64 { return float64(s.ClusterKeys) }),
	gauge("partition_keys", "Network-partition keys with state.", func(s *Stats) float64 { return float64(s.PartitionKeys) }),
	gauge("watched_members", "Members watched for silence.", func(s *Stats) float64 { return float64(s.WatchedMembers) }),
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range metricDefs {
		ch <- m.desc
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.e.Stats()
	for _, m := range metricDefs {
		ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.value(&s))
	}
}
