package manager

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics counts the server's requests by method, route pattern and status code, and times
// them by method and route. The route is chi's pattern ("/api/applications/{appId}"), never the
// raw path, and unknown methods count as "other", so the number of series is bounded by the
// route table. A series is resolved on its first request and kept in a map read under a read
// lock with a key built on the stack: counting a request allocates nothing.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	refused  prometheus.Counter // requests answered 503 beyond Options.MaxConcurrent

	mu     sync.RWMutex
	series map[string]httpSeries // key: method, the raw route patterns and the code
}

type httpSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

func newHTTPMetrics() *httpMetrics {
	return &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "strata_http_requests_total",
			Help: "REST API requests answered, by method, route pattern and status code."}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "strata_http_request_duration_seconds",
			Help:    "Time to answer a REST API request, by method and route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "strata_http_requests_in_flight",
			Help: "REST API requests being answered now."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_http_requests_refused_total",
			Help: "REST API requests refused with 503 because Options.MaxConcurrent requests were being answered."}),
		series: map[string]httpSeries{},
	}
}

// methods are the method label values; any other method is "other".
var methods = [...]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead,
	http.MethodPatch, http.MethodOptions}

func methodLabel(m string) string {
	for _, k := range methods {
		if m == k {
			return k
		}
	}
	return "other"
}

// statusWriter records the status code a handler answers with.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

// middleware counts and times every request; it runs inside the router, so that the route
// pattern is known when the handler returns.
func (m *httpMetrics) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		sw := statusWriters.Get().(*statusWriter)
		sw.ResponseWriter, sw.code = w, 0
		m.inFlight.Inc()
		defer func() {
			m.inFlight.Dec()
			code := sw.code
			if code == 0 {
				code = http.StatusOK
			}
			sw.ResponseWriter = nil
			statusWriters.Put(sw)
			s := m.lookup(r, code)
			s.count.Inc()
			s.duration.Observe(time.Since(began).Seconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

// lookup returns the series of a request, resolving it on first use.
func (m *httpMetrics) lookup(r *http.Request, code int) httpSeries {
	rctx := chi.RouteContext(r.Context())
	method := methodLabel(r.Method)
	var buf [256]byte
	key := append(buf[:0], method...)
	key = append(key, ' ')
	if rctx != nil {
		for _, p := range rctx.RoutePatterns {
			key = append(key, p...)
		}
	}
	key = append(key, ' ')
	key = strconv.AppendInt(key, int64(code), 10)
	m.mu.RLock()
	s, ok := m.series[string(key)]
	m.mu.RUnlock()
	if ok {
		return s
	}
	route := "unmatched"
	if rctx != nil {
		if p := rctx.RoutePattern(); p != "" {
			route = p
		}
	}
	s = httpSeries{
		count:    m.requests.WithLabelValues(method, route, strconv.Itoa(code)),
		duration: m.duration.WithLabelValues(method, route),
	}
	m.mu.Lock()
	m.series[string(key)] = s
	m.mu.Unlock()
	return s
}

// Collector returns the REST API's series, named strata_http_*: requests by method, route and
// code, their duration by method and route, and requests in flight.
func (s *Server) Collector() prometheus.Collector { return s.metrics }

// Describe and Collect make httpMetrics a prometheus.Collector.
func (m *httpMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.requests.Describe(ch)
	m.duration.Describe(ch)
	m.inFlight.Describe(ch)
	m.refused.Describe(ch)
}

func (m *httpMetrics) Collect(ch chan<- prometheus.Metric) {
	m.requests.Collect(ch)
	m.duration.Collect(ch)
	m.inFlight.Collect(ch)
	m.refused.Collect(ch)
}
