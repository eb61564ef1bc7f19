package lb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

type routeKey struct{}

// pick is the route and backend index chosen for a request; failover may move i.
type pick struct {
	route  *route
	i      int
	k      uint64 // the round-robin turn: which of the backend's targets
	n      int    // how many targets a request tries at most: the route's size, or a Service's hosts
	tried  int
	target url.URL
	close  bool // the target is a Service's: do not keep the connection
}

// targetAt returns where the backend's request of turn k goes: the member's address, or the
// Service's addresses in turn.
func (b *backend) targetAt(k uint64) url.URL {
	if len(b.service) == 0 {
		u := url.URL{Scheme: "http", Host: b.host}
		if b.https {
			u.Scheme = "https"
		}
		return u
	}
	return *b.service[k%uint64(len(b.service))]
}

// handler serves one proxy port: it finds the cluster by host, picks the next Active member round
// robin, and proxies; with no member to serve the request it answers 503 at once.
func (l *LB) handler(port int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := l.table.Load()
		pr := t.ports[port]
		if pr == nil {
			l.metrics.requests[resultNoCluster].Inc()
			http.Error(w, "no cluster on this port", http.StatusServiceUnavailable)
			return
		}
		host := strings.ToLower(r.Host)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		rt := pr.hosts[host]
		if rt == nil {
			rt = pr.only
		}
		if rt == nil {
			l.metrics.requests[resultNoCluster].Inc()
			// A port shared by several clusters routes by host name only. Say so, so that a
			// request by address is understood; the names themselves are in each application's
			// runtime view (hostNames), not told to whoever asks.
			http.Error(w, fmt.Sprintf("no cluster serves host %s on port %d: the port is shared by several clusters "+
				"and routes by host name; use the host name of the application's cluster (its runtime view's hostNames)", host, port),
				http.StatusNotFound)
			return
		}
		k := rt.stats.rr.Add(1) - 1
		b, i, n, ok := rt.backends.at(k)
		if !ok {
			l.metrics.requests[resultNoMember].Inc()
			w.Header().Set("Retry-After", "5")
			http.Error(w, "no active member", http.StatusServiceUnavailable)
			return
		}
		inst := b.instance
		l.metrics.requests[resultProxied].Inc()
		l.metrics.inFlight.Inc()
		inst.add(l.opts.Now(), 1)
		defer func() { inst.add(l.opts.Now(), -1); l.metrics.inFlight.Dec() }()
		p := &pick{route: rt, i: i, k: k, n: max(n, len(b.service)), target: b.targetAt(k), close: len(b.service) > 0}
		l.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, p)))
	})
}

// failover retries a request on the next member when the connection to the chosen one fails
// before anything was sent (the member went away between the routing decision and the dial); a
// member behind a Kubernetes Service is retried at the Service's next host.
type failover struct {
	base    http.RoundTripper
	retries prometheus.Counter
}

func (f *failover) RoundTrip(r *http.Request) (*http.Response, error) {
	p, _ := r.Context().Value(routeKey{}).(*pick)
	for {
		resp, err := f.base.RoundTrip(r)
		if err == nil || p == nil || !isDialError(err) || p.tried+1 >= p.n ||
			r.Body != nil && r.Body != http.NoBody && r.GetBody == nil {
			return resp, err
		}
		next, i, _, ok := p.route.backends.at(uint64(p.i) + 1)
		if !ok {
			return resp, err
		}
		p.tried++
		f.retries.Inc()
		p.k++
		p.i, p.target = i, next.targetAt(p.k)
		r = r.Clone(r.Context())
		if r.GetBody != nil {
			if r.Body, err = r.GetBody(); err != nil {
				return nil, err
			}
		}
		u := p.target
		u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
		r.URL = &u
	}
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
