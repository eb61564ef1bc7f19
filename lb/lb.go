package lb

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
)

// Defaults of Options.
const (
	DefaultStatsInterval           = 15 * time.Second
	DefaultTopologyRequestInterval = 5 * time.Second
	DefaultDialTimeout             = 5 * time.Second
	DefaultShutdownTimeout         = 10 * time.Second
)

// Bus is what the load balancer needs from the message bus; *bus.Client implements it.
type Bus interface {
	SubscribeEvents(ctx context.Context, filter string, handler bus.EventHandler) error
	PublishEvent(ctx context.Context, e model.Event) error
}

// Publisher sends data-bridge events; *databridge.Client implements it.
type Publisher interface {
	Publish(ctx context.Context, events ...databridge.Event) error
}

// Options configure a load balancer.
type Options struct {
	// Bus carries the topology events (and the CompleteTopologyRequestEvent). Required.
	Bus Bus
	// CEP receives in_flight_requests every StatsInterval; nil publishes nothing.
	CEP Publisher
	// Host is the address the proxy ports listen on; "" means every interface.
	Host string
	// NetworkPartitionID is sent for clusters whose members name none (Stratos' sysprop
	// network.partition.id).
	NetworkPartitionID string
	// StatsInterval is how often in-flight counts are published (§2.6: 15 s).
	StatsInterval time.Duration
	// TopologyRequestInterval is how often CompleteTopologyRequestEvent is sent until a
	// CompleteTopologyEvent arrives.
	TopologyRequestInterval time.Duration
	// DialTimeout bounds a connection to a member; a member that does not answer in time is
	// skipped for the next one.
	DialTimeout time.Duration
	// Transport, when set, replaces the transport to the members (tests, TLS settings).
	Transport http.RoundTripper
	// ShutdownTimeout bounds the graceful shutdown of the proxy ports.
	ShutdownTimeout time.Duration
	// Logger receives the balancer's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock of the in-flight averages; default time.Now.
	Now func() time.Time
}

// LB is the load balancer: an HTTP reverse proxy on every cartridge's proxy port that routes by
// host name to the Active members of the matching cluster.
type LB struct {
	opts  Options
	log   *slog.Logger
	proxy *httputil.ReverseProxy
	table atomic.Pointer[table] // what requests read; replaced whole on every change

	mu            sync.Mutex // guards everything below; held by the bus handler while applying an event
	services      map[string]*service
	clusterStats  map[string]*clusterStats // survives rebuilds so counters and round robin persist
	servers       map[int]*portServer
	topologyReady bool
	listenFailed  map[int]string // port -> error, logged once
	lastSample    time.Time
	running       bool
	stopping      bool

	serveWG sync.WaitGroup // the Serve goroutines and port shutdowns

	metrics *metrics
}

type service struct {
	name     string
	portMap  model.PortMap
	clusters map[string]*cluster
}

type cluster struct {
	id, service string
	hostNames   []string
	members     map[string]*member
}

type member struct {
	id, instanceID, networkPartitionID string
	status                             model.MemberStatus
	ip                                 string
	portMap                            model.PortMap
}

type portServer struct {
	srv *http.Server
	ln  net.Listener
}

// table is an immutable routing snapshot.
type table struct {
	ports    map[int]*portRoutes
	clusters []*clusterStats // every cluster, for the statistics
}

type portRoutes struct {
	hosts map[string]*route
	only  *route // the port's single cluster, which also takes requests for unknown hosts
}

type route struct {
	stats    *clusterStats
	backends []backend
}

type backend struct {
	memberID string
	target   *url.URL
	instance *instanceStats
}

// clusterStats holds a cluster's round-robin position and in-flight accounting per cluster
// instance.
type clusterStats struct {
	id, networkPartitionID string
	rr                     atomic.Uint64

	mu        sync.Mutex
	instances map[string]*instanceStats // cluster instance id -> stats
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

// New checks the options; Run starts the load balancer.
func New(o Options) (*LB, error) {
	if o.Bus == nil {
		return nil, errors.New("lb: no Bus")
	}
	if o.StatsInterval <= 0 {
		o.StatsInterval = DefaultStatsInterval
	}
	if o.TopologyRequestInterval <= 0 {
		o.TopologyRequestInterval = DefaultTopologyRequestInterval
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := &LB{
		opts: o, log: o.Logger.With("component", "lb"),
		services: map[string]*service{}, clusterStats: map[string]*clusterStats{},
		servers: map[int]*portServer{}, listenFailed: map[int]string{},
		metrics: newMetrics(),
	}
	tr := o.Transport
	if tr == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}).DialContext
		t.MaxIdleConnsPerHost = 64
		// Members serve self-signed certificates, if any.
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
		tr = t
	}
	l.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			b := pr.In.Context().Value(routeKey{}).(*pick)
			pr.SetURL(b.route.backends[b.i].target)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		Transport: &failover{base: tr, retries: l.metrics.retries},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(err, context.Canceled) {
				return // the client went away
			}
			l.metrics.upstreamErrors.Inc()
			l.log.Debug("proxy error", "host", r.Host, "error", err)
			http.Error(w, "bad gateway", http.StatusBadGateway)
		},
	}
	l.table.Store(&table{ports: map[int]*portRoutes{}})
	return l, nil
}

// Run subscribes to the topology, asks for the complete topology (again every
// TopologyRequestInterval until it comes), serves the proxy ports as the topology names them
// and publishes in-flight counts every StatsInterval. When ctx ends it shuts the ports down
// (bounded by ShutdownTimeout) and returns once every goroutine has exited.
func (l *LB) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.running {
		l.mu.Unlock()
		return errors.New("lb: Run called twice")
	}
	l.running = true
	l.lastSample = l.opts.Now()
	l.mu.Unlock()
	defer l.shutdown()

	if err := l.opts.Bus.SubscribeEvents(ctx, "topology/#", func(_ string, e model.Event) { l.apply(e) }); err != nil {
		return fmt.Errorf("lb: subscribe topology: %w", err)
	}
	l.requestTopology(ctx)
	req := time.NewTicker(l.opts.TopologyRequestInterval)
	defer req.Stop()
	stats := time.NewTicker(l.opts.StatsInterval)
	defer stats.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-req.C:
			l.mu.Lock()
			ready := l.topologyReady
			l.mu.Unlock()
			if ready {
				req.Stop()
				continue
			}
			l.requestTopology(ctx)
		case <-stats.C:
			err := l.publishStats(ctx)
			switch {
			case err != nil && !failing && ctx.Err() == nil:
				l.log.Warn("cannot publish in-flight requests; retrying every interval", "error", err)
				failing = true
			case err == nil && failing:
				l.log.Info("in-flight requests published again")
				failing = false
			}
		}
	}
}

func (l *LB) requestTopology(ctx context.Context) {
	if err := l.opts.Bus.PublishEvent(ctx, model.CompleteTopologyRequestEvent{}); err != nil && ctx.Err() == nil {
		l.log.Warn("cannot request the topology", "error", err)
	}
}

func (l *LB) shutdown() {
	l.mu.Lock()
	l.stopping = true
	servers := l.servers
	l.servers = map[int]*portServer{}
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.ShutdownTimeout)
	defer cancel()
	for _, s := range servers {
		if err := s.srv.Shutdown(ctx); err != nil {
			s.srv.Close()
		}
	}
	l.serveWG.Wait()
}

// apply updates the topology with one event and, when routing changed, installs a new table and
// opens or closes proxy ports. It runs on the bus's receive goroutine and does no I/O besides
// binding new ports, so a member leaves the routes the moment its event arrives.
func (l *LB) apply(e model.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch ev := e.(type) {
	case *model.CompleteTopologyEvent:
		if ev.Topology == nil {
			return
		}
		l.topologyReady = true
		l.services = map[string]*service{}
		for name, s := range ev.Topology.ServiceMap {
			svc := l.serviceLocked(name)
			svc.portMap = s.PortMap
			for _, c := range s.ClusterIDClusterMap {
				l.addClusterLocked(c)
			}
		}
		for _, c := range ev.Topology.ClusterMap {
			l.addClusterLocked(c)
		}
	case *model.ServiceCreatedEvent:
		l.serviceLocked(ev.ServiceName).portMap = ev.PortMap
	case *model.ServiceRemovedEvent:
		delete(l.services, ev.ServiceName)
	case *model.ClusterCreatedEvent:
		if ev.Cluster != nil {
			l.addClusterLocked(ev.Cluster)
		}
	case *model.ApplicationClustersCreatedEvent:
		for _, c := range ev.ClusterList {
			l.addClusterLocked(c)
		}
	case *model.ClusterRemovedEvent:
		l.removeClusterLocked(ev.ClusterID)
	case *model.ApplicationClustersRemovedEvent:
		for _, c := range ev.ClusterData {
			l.removeClusterLocked(c.ClusterID)
		}
	case *model.ClusterInstanceTerminatedEvent:
		if c := l.findClusterLocked(ev.ServiceName, ev.ClusterID); c != nil {
			for id, m := range c.members {
				if m.instanceID == ev.InstanceID {
					delete(c.members, id)
				}
			}
		}
	case *model.MemberCreatedEvent:
		m := l.memberLocked(ev.ServiceName, ev.ClusterID, ev.MemberID)
		m.instanceID, m.networkPartitionID, m.status = ev.ClusterInstanceID, ev.NetworkPartitionID, model.MemberCreated
	case *model.MemberInitializedEvent:
		m := l.memberLocked(ev.ServiceName, ev.ClusterID, ev.MemberID)
		m.instanceID, m.networkPartitionID, m.status = ev.ClusterInstanceID, ev.NetworkPartitionID, model.MemberInitialized
		m.ip = firstIP(ev.DefaultPrivateIP, ev.MemberPrivateIPs)
	case *model.MemberStartedEvent:
		l.memberLocked(ev.ServiceName, ev.ClusterID, ev.MemberID).status = model.MemberStarting
	case *model.MemberActivatedEvent:
		m := l.memberLocked(ev.ServiceName, ev.ClusterID, ev.MemberID)
		m.status, m.portMap = model.MemberActive, ev.PortMap
		if ev.ClusterInstanceID != "" {
			m.instanceID = ev.ClusterInstanceID
		}
		if ev.NetworkPartitionID != "" {
			m.networkPartitionID = ev.NetworkPartitionID
		}
		if ip := firstIP(ev.DefaultPrivateIP, ev.MemberPrivateIPs); ip != "" {
			m.ip = ip
		}
	case *model.MemberMaintenanceModeEvent:
		l.setStatusLocked(ev.ServiceName, ev.ClusterID, ev.MemberID, model.MemberInMaintenance)
	case *model.MemberReadyToShutdownEvent:
		l.setStatusLocked(ev.ServiceName, ev.ClusterID, ev.MemberID, model.MemberReadyToShutDown)
	case *model.MemberSuspendedEvent:
		l.setStatusLocked(ev.ServiceName, ev.ClusterID, ev.MemberID, model.MemberSuspended)
	case *model.MemberTerminatedEvent:
		if c := l.findClusterLocked(ev.ServiceName, ev.ClusterID); c != nil {
			delete(c.members, ev.MemberID)
		}
	default:
		return
	}
	l.rebuildLocked()
}

func firstIP(def string, ips []string) string {
	if def != "" {
		return def
	}
	if len(ips) > 0 {
		return ips[0]
	}
	return ""
}

func (l *LB) serviceLocked(name string) *service {
	s := l.services[name]
	if s == nil {
		s = &service{name: name, clusters: map[string]*cluster{}}
		l.services[name] = s
	}
	return s
}

func (l *LB) addClusterLocked(c *model.Cluster) {
	svc := l.serviceLocked(c.ServiceName)
	cl := &cluster{id: c.ClusterID, service: c.ServiceName, members: map[string]*member{}}
	for _, h := range c.HostNames {
		cl.hostNames = append(cl.hostNames, strings.ToLower(h))
	}
	for id, m := range c.MemberMap {
		ip := m.DefaultPrivateIP
		if m.LoadBalancingIPType == model.IPPublic && m.DefaultPublicIP != "" {
			ip = m.DefaultPublicIP
		}
		if ip == "" {
			ip = firstIP("", m.MemberPrivateIPs)
		}
		cl.members[id] = &member{id: id, instanceID: m.ClusterInstanceID, networkPartitionID: m.NetworkPartitionID,
			status: m.Status(), ip: ip, portMap: m.PortMap}
	}
	svc.clusters[c.ClusterID] = cl
}

func (l *LB) removeClusterLocked(id string) {
	for _, s := range l.services {
		delete(s.clusters, id)
	}
}

func (l *LB) findClusterLocked(service, id string) *cluster {
	if s := l.services[service]; s != nil {
		if c := s.clusters[id]; c != nil {
			return c
		}
	}
	for _, s := range l.services { // an event with another service name for the same cluster
		if c := s.clusters[id]; c != nil {
			return c
		}
	}
	return nil
}

// memberLocked finds or creates a member; a member of a cluster not seen yet gets a placeholder
// cluster without host names, which the next complete topology fills in.
func (l *LB) memberLocked(service, clusterID, id string) *member {
	c := l.findClusterLocked(service, clusterID)
	if c == nil {
		c = &cluster{id: clusterID, service: service, members: map[string]*member{}}
		l.serviceLocked(service).clusters[clusterID] = c
	}
	m := c.members[id]
	if m == nil {
		m = &member{id: id}
		c.members[id] = m
	}
	return m
}

func (l *LB) setStatusLocked(service, clusterID, id string, st model.MemberStatus) {
	if c := l.findClusterLocked(service, clusterID); c != nil {
		if m := c.members[id]; m != nil {
			m.status = st
		}
	}
}

// rebuildLocked computes the routing table from the topology, installs it, and reconciles the
// proxy ports with it.
func (l *LB) rebuildLocked() {
	t := &table{ports: map[int]*portRoutes{}}
	seen := map[string]bool{}
	for _, s := range l.services {
		// A service's ports stay open while it exists, so a request finds a 503 rather than a
		// closed port between clusters.
		for proxy := range s.portMap {
			if t.ports[proxy] == nil {
				t.ports[proxy] = &portRoutes{hosts: map[string]*route{}}
			}
		}
		for _, c := range s.clusters {
			cs := l.clusterStats[c.id]
			if cs == nil {
				cs = &clusterStats{id: c.id, instances: map[string]*instanceStats{}}
				l.clusterStats[c.id] = cs
			}
			seen[c.id] = true
			t.clusters = append(t.clusters, cs)
			// The cluster's proxy ports: the service's, and any an Active member reports.
			ports := map[int]model.Port{}
			for p, port := range s.portMap {
				ports[p] = port
			}
			ids := make([]string, 0, len(c.members))
			for id, m := range c.members {
				ids = append(ids, id)
				for p, port := range m.portMap {
					if _, ok := ports[p]; !ok {
						ports[p] = port
					}
				}
				if cs.networkPartitionID == "" && m.networkPartitionID != "" {
					cs.networkPartitionID = m.networkPartitionID
				}
			}
			sort.Strings(ids) // a stable order keeps the round robin fair across rebuilds
			cs.prune(c.members)
			for proxy := range ports {
				r := &route{stats: cs}
				for _, id := range ids {
					m := c.members[id]
					if m.status != model.MemberActive || m.ip == "" {
						continue
					}
					port, ok := m.portMap[proxy]
					if !ok {
						port, ok = s.portMap[proxy]
					}
					if !ok || port.Value <= 0 {
						continue
					}
					scheme := "http"
					if strings.EqualFold(port.Protocol, "https") {
						scheme = "https"
					}
					r.backends = append(r.backends, backend{
						memberID: id,
						target:   &url.URL{Scheme: scheme, Host: net.JoinHostPort(m.ip, strconv.Itoa(int(port.Value)))},
						instance: cs.instance(m.instanceID, m.networkPartitionID),
					})
				}
				pr := t.ports[proxy]
				if pr == nil {
					pr = &portRoutes{hosts: map[string]*route{}}
					t.ports[proxy] = pr
				}
				for _, h := range c.hostNames {
					pr.hosts[h] = r
				}
			}
		}
	}
	for id := range l.clusterStats {
		if !seen[id] {
			delete(l.clusterStats, id)
		}
	}
	for _, pr := range t.ports {
		distinct := map[*clusterStats]*route{}
		for _, r := range pr.hosts {
			distinct[r.stats] = r
		}
		if len(distinct) == 1 {
			for _, r := range distinct {
				pr.only = r
			}
		}
	}
	l.table.Store(t)
	l.reconcilePortsLocked(t)
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

// reconcilePortsLocked opens a listener for every proxy port of the table and shuts down those no
// cluster uses any more.
func (l *LB) reconcilePortsLocked(t *table) {
	if !l.running || l.stopping {
		return
	}
	for port := range t.ports {
		if _, ok := l.servers[port]; ok {
			continue
		}
		addr := net.JoinHostPort(l.opts.Host, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if l.listenFailed[port] != err.Error() {
				l.log.Error("cannot listen on a proxy port; retrying on the next topology change", "addr", addr, "error", err)
				l.listenFailed[port] = err.Error()
			}
			continue
		}
		delete(l.listenFailed, port)
		srv := &http.Server{Handler: l.handler(port), ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(l.log.Handler(), slog.LevelDebug)}
		l.servers[port] = &portServer{srv: srv, ln: ln}
		l.serveWG.Add(1)
		go func() {
			defer l.serveWG.Done()
			srv.Serve(ln)
		}()
		l.log.Info("proxy port open", "addr", ln.Addr().String())
	}
	for port, s := range l.servers {
		if _, ok := t.ports[port]; ok {
			continue
		}
		delete(l.servers, port)
		l.serveWG.Add(1)
		go func() {
			defer l.serveWG.Done()
			ctx, cancel := context.WithTimeout(context.Background(), l.opts.ShutdownTimeout)
			defer cancel()
			if err := s.srv.Shutdown(ctx); err != nil {
				s.srv.Close()
			}
		}()
		l.log.Info("proxy port closed", "port", port)
	}
}

type routeKey struct{}

// pick is the route and backend index chosen for a request; failover may move i.
type pick struct {
	route *route
	i     int
	tried int
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
		if len(rt.backends) == 0 {
			l.metrics.requests[resultNoMember].Inc()
			w.Header().Set("Retry-After", "5")
			http.Error(w, "no active member", http.StatusServiceUnavailable)
			return
		}
		i := int(rt.stats.rr.Add(1)-1) % len(rt.backends)
		inst := rt.backends[i].instance
		l.metrics.requests[resultProxied].Inc()
		l.metrics.inFlight.Inc()
		inst.add(l.opts.Now(), 1)
		defer func() { inst.add(l.opts.Now(), -1); l.metrics.inFlight.Dec() }()
		l.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, &pick{route: rt, i: i})))
	})
}

// failover retries a request on the next member when the connection to the chosen one fails
// before anything was sent (the member went away between the routing decision and the dial).
type failover struct {
	base    http.RoundTripper
	retries prometheus.Counter
}

func (f *failover) RoundTrip(r *http.Request) (*http.Response, error) {
	p, _ := r.Context().Value(routeKey{}).(*pick)
	for {
		resp, err := f.base.RoundTrip(r)
		if err == nil || p == nil || !isDialError(err) || p.tried+1 >= len(p.route.backends) ||
			r.Body != nil && r.Body != http.NoBody && r.GetBody == nil {
			return resp, err
		}
		p.tried++
		f.retries.Inc()
		p.i = (p.i + 1) % len(p.route.backends)
		r = r.Clone(r.Context())
		if r.GetBody != nil {
			if r.Body, err = r.GetBody(); err != nil {
				return nil, err
			}
		}
		u := *p.route.backends[p.i].target
		u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, r.URL.RawQuery
		r.URL = &u
	}
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
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
		cs.mu.Unlock()
		sort.Slice(insts, func(i, j int) bool { return insts[i].id < insts[j].id })
		if len(insts) == 0 {
			insts = []*instanceStats{{id: model.NotDefined}}
		}
		for _, s := range insts {
			np := s.networkPartitionID
			if np == "" {
				np = cs.networkPartitionID
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
