package history

import "github.com/prometheus/client_golang/prometheus"

// Collector returns the series of a store's Stats, named strata_history_* and labelled with the
// backend ("memory" or "clickhouse"). Each scrape reads Stats afresh; recording counts with
// atomics only.
func Collector(s statsSource) prometheus.Collector {
	backend := "memory"
	if _, ok := s.(*ClickHouse); ok {
		backend = "clickhouse"
	}
	labels := prometheus.Labels{"backend": backend}
	c := collector{s: s}
	for _, d := range statDefs {
		c.defs = append(c.defs, metricDef{
			desc: prometheus.NewDesc("strata_history_"+d.name, d.help, nil, labels), typ: d.typ, value: d.value})
	}
	return c
}

// statsSource is what Collector reads: Memory and ClickHouse have it.
type statsSource interface {
	Stats() Stats
}

type collector struct {
	s    statsSource
	defs []metricDef
}

type metricDef struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*Stats) float64
}

type statDef struct {
	name, help string
	typ        prometheus.ValueType
	value      func(*Stats) float64
}

func counter(name, help string, f func(*Stats) uint64) statDef {
	return statDef{name, help, prometheus.CounterValue, func(s *Stats) float64 { return float64(f(s)) }}
}

func gauge(name, help string, f func(*Stats) float64) statDef {
	return statDef{name, help, prometheus.GaugeValue, f}
}

var statDefs = []statDef{
	counter("rows_written_total", "Rows written to ClickHouse, or stored in memory by the embedded store.", func(s *Stats) uint64 { return s.Inserted }),
	counter("records_accepted_total", "Records a Record method took.", func(s *Stats) uint64 { return s.Accepted }),
	counter("records_rejected_total", "Records refused by the input rules.", func(s *Stats) uint64 { return s.Rejected }),
	counter("records_truncated_total", "Records stored with a string cut or repaired.", func(s *Stats) uint64 { return s.Truncated }),
	counter("records_dropped_total", "Records refused because the in-memory queue was full or the store closed.", func(s *Stats) uint64 { return s.Dropped }),
	counter("batches_written_total", "Batches written to ClickHouse.", func(s *Stats) uint64 { return s.Batches }),
	counter("write_errors_total", "Failed insert attempts (the batch is spooled and retried).", func(s *Stats) uint64 { return s.Failures }),
	counter("spooled_rows_total", "Rows written to the on-disk spool while ClickHouse was failing or slow.", func(s *Stats) uint64 { return s.Spooled }),
	counter("replayed_rows_total", "Rows inserted from the spool.", func(s *Stats) uint64 { return s.Replayed }),
	counter("duplicate_rows_total", "Spooled rows found already stored and not inserted again.", func(s *Stats) uint64 { return s.Duplicates }),
	counter("spool_dropped_rows_total", "Rows dropped because the spool was full or unwritable.", func(s *Stats) uint64 { return s.SpoolDropped }),
	counter("dead_letter_rows_total", "Rows of batches ClickHouse refused for good (kept in the data dir).", func(s *Stats) uint64 { return s.DeadLetter }),
	counter("spool_corrupt_total", "Spool records skipped as unreadable.", func(s *Stats) uint64 { return s.Corrupt }),
	counter("evicted_rows_total", "Rows the embedded store evicted by age or by its size bound.", func(s *Stats) uint64 { return s.Evicted }),
	gauge("spool_bytes", "Unread bytes in the spool.", func(s *Stats) float64 { return float64(s.SpoolBytes) }),
	gauge("queued_rows", "Rows held in memory on their way to ClickHouse.", func(s *Stats) float64 { return float64(s.Queued) }),
	gauge("healthy", "1 when the last insert succeeded (always 1 for the embedded store).", func(s *Stats) float64 {
		if s.Healthy {
			return 1
		}
		return 0
	}),
}

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.defs {
		ch <- d.desc
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	s := c.s.Stats()
	for _, d := range c.defs {
		ch <- prometheus.MustNewConstMetric(d.desc, d.typ, d.value(&s))
	}
}
