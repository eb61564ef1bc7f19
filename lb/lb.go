package lb

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"

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
	// KubernetesPodIPs sends the requests for members on Kubernetes to their pod IPs instead of
	// the Services that front their clusters (kubernetesServices in the topology): for a load
	// balancer that runs inside the Kubernetes cluster's pod network. See kubernetes.go.
	KubernetesPodIPs bool
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
	table atomic.Pointer[table] // what requests read; replaced whole when services, clusters or ports change

	mu            sync.Mutex // guards everything below; held by the bus handler while applying an event
	services      map[string]*service
	clusterStats  map[string]*clusterStats    // survives rebuilds so counters and round robin persist
	routes        map[*cluster]map[int]*route // each cluster's routes by proxy port, as in table
	servers       map[int]*portServer
	topologyReady bool
	listenFailed  map[int]string // port -> error, logged once
	lastSample    time.Time
	running       bool
	stopping      bool

	serveWG sync.WaitGroup // the Serve goroutines and port shutdowns

	metrics *metrics
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
			pr.SetURL(&b.target)
			pr.Out.Close = b.close
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

	busAsks, err := l.follow(ctx)
	if err != nil {
		return err
	}
	var asking <-chan time.Time // until the first complete topology, when the bus does not ask
	if !busAsks {
		l.requestTopology(ctx)
		req := time.NewTicker(l.opts.TopologyRequestInterval)
		defer req.Stop()
		asking = req.C
	}
	stats := time.NewTicker(l.opts.StatsInterval)
	defer stats.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-asking:
			l.mu.Lock()
			ready := l.topologyReady
			l.mu.Unlock()
			if ready {
				asking = nil
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
