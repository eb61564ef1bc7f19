package lb

import "github.com/prometheus/client_golang/prometheus"

// The results of a request, the label values of strata_lb_requests_total.
const (
	resultProxied   = iota // routed to a member (the member's answer, or 502 when none answered)
	resultNoCluster        // no cluster on the port or for the host: 503 or 404
	resultNoMember         // the cluster has no Active member: 503
	resultCount
)

var resultNames = [resultCount]string{"proxied", "no_cluster", "no_member"}

// metrics are the load balancer's series. The request counters are resolved in newMetrics, so a
// request counts without a lookup or an allocation.
type metrics struct {
	requests       [resultCount]prometheus.Counter
	upstreamErrors prometheus.Counter
	retries        prometheus.Counter
	inFlight       prometheus.Gauge
	topologies     prometheus.Counter
	collectors     []prometheus.Collector
}

func newMetrics() *metrics {
	m := &metrics{
		upstreamErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_lb_upstream_errors_total",
			Help: "Proxied requests no member answered (502): the connection failed on every member tried, or the member's answer broke off."}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_lb_upstream_retries_total",
			Help: "Requests sent on to the next member because the connection to the chosen one failed."}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "strata_lb_requests_in_flight",
			Help: "Requests being proxied now."}),
		topologies: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_lb_complete_topologies_total",
			Help: "Complete topologies the load balancer read (CompleteTopologyEvent)."}),
	}
	req := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_lb_requests_total",
		Help: "Requests received on the proxy ports, by result."}, []string{"result"})
	for i, name := range resultNames {
		m.requests[i] = req.WithLabelValues(name)
	}
	m.collectors = []prometheus.Collector{req, m.upstreamErrors, m.retries, m.inFlight, m.topologies}
	return m
}

// Collector returns the load balancer's series, named strata_lb_*: requests by result, upstream
// errors and retries, requests in flight, and the complete topologies it read.
func (l *LB) Collector() prometheus.Collector { return collector{l.metrics} }

type collector struct{ m *metrics }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, x := range c.m.collectors {
		x.Describe(ch)
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, x := range c.m.collectors {
		x.Collect(ch)
	}
}
