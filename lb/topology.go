package lb

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

type service struct {
	name     string
	portMap  model.PortMap
	clusters map[string]*cluster
}

type cluster struct {
	id, service string
	hostNames   []string
	members     map[string]*member
	// kubernetesServices are the Services that front it on Kubernetes (kubernetes.go).
	kubernetesServices []model.KubernetesService
	// names and portMaps hold one copy of the cluster instance and network partition ids and of
	// the port maps its members name: each event decodes its own, and a member kept them (issue
	// 17: ~400 B a member).
	names    map[string]string
	portMaps []model.PortMap
}

// maxSharedPortMaps bounds the port maps a cluster shares (its members normally have one).
const maxSharedPortMaps = 4

// share makes m hold c's copies of its ids and port map.
func (c *cluster) share(m *member) {
	if c.names == nil {
		c.names = map[string]string{}
	}
	for _, s := range []*string{&m.instanceID, &m.networkPartitionID} {
		if v, ok := c.names[*s]; ok {
			*s = v
		} else if len(c.names) < 64 {
			c.names[*s] = *s
		}
	}
	if m.portMap == nil {
		return
	}
	for _, pm := range c.portMaps {
		if maps.Equal(pm, m.portMap) {
			m.portMap = pm
			return
		}
	}
	if len(c.portMaps) < maxSharedPortMaps {
		c.portMaps = append(c.portMaps, m.portMap)
	}
}

type member struct {
	id, instanceID, networkPartitionID string
	status                             model.MemberStatus
	ip                                 string
	portMap                            model.PortMap
	kubernetesCluster                  string // the Kubernetes cluster its pod runs on, from its IaaS instance id
}

type portServer struct {
	srv *http.Server
	ln  net.Listener
}

// table is a routing snapshot: its ports, hosts and routes are fixed; a route's backends change
// in place with member events.
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
	backends backendSet
}

// backend is a member on a route: where its share of the requests goes (its own address, or
// the addresses of the Kubernetes Service that fronts it, taken in turn) and the cluster
// instance its requests count against.
type backend struct {
	memberID string
	// host is the member's own address, host:port ("" behind a Service), and https its scheme:
	// not a *url.URL, which cost 160 B a member and route (issue 17); targetAt makes the URL.
	host     string
	https    bool
	service  []*url.URL // the addresses of the Service that fronts it: one connection per request (kube-proxy balances connections)
	instance *instanceStats
}

// apply updates the topology with one event and, when routing changed, installs a new table and
// opens or closes proxy ports. It runs on the bus consumer's goroutine and does no I/O besides
// binding new ports, so a member leaves the routes the moment its event arrives.
func (l *LB) apply(e model.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch ev := e.(type) {
	case *model.CompleteTopologyEvent:
		if ev.Topology == nil {
			return
		}
		l.metrics.topologies.Inc()
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
		l.changeMemberLocked(ev.ServiceName, ev.ClusterID, ev.MemberID, true, func(m *member) {
			m.instanceID, m.networkPartitionID, m.status = ev.ClusterInstanceID, ev.NetworkPartitionID, model.MemberCreated
		})
		return
	case *model.MemberInitializedEvent:
		l.changeMemberLocked(ev.ServiceName, ev.ClusterID, ev.MemberID, true, func(m *member) {
			m.instanceID, m.networkPartitionID, m.status = ev.ClusterInstanceID, ev.NetworkPartitionID, model.MemberInitialized
			m.ip = firstIP(ev.DefaultPrivateIP, ev.MemberPrivateIPs)
			m.kubernetesCluster = kubernetesClusterOf(ev.InstanceID)
		})
		if c := l.findClusterLocked(ev.ServiceName, ev.ClusterID); c == nil || !setServicesLocked(c, ev.KubernetesServices) {
			return
		}
	case *model.MemberStartedEvent:
		l.changeMemberLocked(ev.ServiceName, ev.ClusterID, ev.MemberID, true, func(m *member) { m.status = model.MemberStarting })
		return
	case *model.MemberActivatedEvent:
		l.changeMemberLocked(ev.ServiceName, ev.ClusterID, ev.MemberID, true, func(m *member) {
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
		})
		return
	case *model.MemberMaintenanceModeEvent:
		l.changeMemberLocked(ev.ServiceName, ev.ClusterID, ev.MemberID, false, func(m *member) { m.status = model.MemberInMaintenance })
		return
	case *model.MemberReadyToShutdownEvent:
		l.changeMemberLocked(ev.ServiceName, ev.ClusterID, ev.MemberID, false, func(m *member) { m.status = model.MemberReadyToShutDown })
		return
	case *model.MemberSuspendedEvent:
		l.changeMemberLocked(ev.ServiceName, ev.ClusterID, ev.MemberID, false, func(m *member) { m.status = model.MemberSuspended })
		return
	case *model.MemberTerminatedEvent:
		if c := l.findClusterLocked(ev.ServiceName, ev.ClusterID); c != nil {
			if m := c.members[ev.MemberID]; m != nil {
				delete(c.members, ev.MemberID)
				l.memberChangedLocked(c, m, nil)
			}
		}
		return
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
	cl := &cluster{id: c.ClusterID, service: c.ServiceName, members: map[string]*member{},
		kubernetesServices: slices.Clone(c.KubernetesServices)}
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
		lm := &member{id: id, instanceID: m.ClusterInstanceID, networkPartitionID: m.NetworkPartitionID,
			status: m.Status(), ip: ip, portMap: m.PortMap, kubernetesCluster: kubernetesClusterOf(m.InstanceID)}
		cl.share(lm)
		cl.members[id] = lm
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
func (l *LB) memberLocked(service, clusterID, id string) (*cluster, *member) {
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
	return c, m
}

// changeMemberLocked applies change to a member and brings the routes in line with it. With
// create, a member not seen yet is created (memberLocked); without, an unknown member is left
// alone.
func (l *LB) changeMemberLocked(service, clusterID, id string, create bool, change func(*member)) {
	var c *cluster
	var m *member
	if create {
		c, m = l.memberLocked(service, clusterID, id)
	} else if c = l.findClusterLocked(service, clusterID); c != nil {
		m = c.members[id]
	}
	if m == nil {
		return
	}
	old := *m
	change(m)
	c.share(m)
	l.memberChangedLocked(c, &old, m)
}

// memberChangedLocked brings the routes in line with one member's change, from old to m (nil:
// removed), in time independent of the cluster's size: the member's backend is put into or
// taken out of each of its cluster's routes. A change the routes cannot take in place, a cluster
// without routes yet or a proxy port that only this member names, rebuilds the whole table.
func (l *LB) memberChangedLocked(c *cluster, old, m *member) {
	routes, ok := l.routes[c]
	if !ok || l.extraPortsLocked(c, old) || m != nil && l.extraPortsLocked(c, m) {
		l.rebuildLocked()
		return
	}
	s := l.services[c.service]
	for proxy, r := range routes {
		if m == nil {
			r.backends.remove(old.id)
			continue
		}
		if b, ok := l.backendOf(s, c, r.stats, m, proxy); ok {
			r.backends.put(b)
		} else {
			r.backends.remove(m.id)
		}
	}
	if m != nil {
		if cs := l.clusterStats[c.id]; cs != nil {
			cs.learnNetworkPartition(m.networkPartitionID)
		}
	}
}

// extraPortsLocked reports whether m names a proxy port its service does not: the port is open
// for the cluster because of its members, so a change of m may open or close it.
func (l *LB) extraPortsLocked(c *cluster, m *member) bool {
	s := l.services[c.service]
	for p := range m.portMap {
		if s == nil {
			return true
		}
		if _, ok := s.portMap[p]; !ok {
			return true
		}
	}
	return false
}

// backendOf is the backend of member m of cluster c on a proxy port, if m takes requests there:
// it is Active, has an address and a port for proxy, and, when a Kubernetes Service fronts that
// port, the Service has an address (kubernetes.go).
func (l *LB) backendOf(s *service, c *cluster, cs *clusterStats, m *member, proxy int) (backend, bool) {
	if m.status != model.MemberActive || m.ip == "" {
		return backend{}, false
	}
	port, ok := m.portMap[proxy]
	if !ok && s != nil {
		port, ok = s.portMap[proxy]
	}
	if !ok || port.Value <= 0 {
		return backend{}, false
	}
	scheme := "http"
	if strings.EqualFold(port.Protocol, "https") {
		scheme = "https"
	}
	b := backend{memberID: m.id}
	if targets, ok := serviceTargets(c, m, scheme, port.Value); ok && !l.opts.KubernetesPodIPs {
		if len(targets) == 0 {
			return backend{}, false
		}
		b.service = targets
	} else {
		b.host, b.https = net.JoinHostPort(m.ip, strconv.Itoa(int(port.Value))), scheme == "https"
	}
	b.instance = cs.instance(m.instanceID, m.networkPartitionID)
	return b, true
}

// rebuildLocked computes the routing table from the topology, installs it, and reconciles the
// proxy ports with it. It takes time in the size of the whole topology, so it runs on changes of
// services, clusters and ports; a member's change goes through memberChangedLocked.
func (l *LB) rebuildLocked() {
	t := &table{ports: map[int]*portRoutes{}}
	seen := map[string]bool{}
	routes := map[*cluster]map[int]*route{}
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
				cs.learnNetworkPartition(m.networkPartitionID)
			}
			sort.Strings(ids) // a stable order keeps the round robin fair across rebuilds
			cs.prune(c.members)
			croutes := make(map[int]*route, len(ports))
			routes[c] = croutes
			for proxy := range ports {
				r := &route{stats: cs}
				croutes[proxy] = r
				for _, id := range ids {
					if b, ok := l.backendOf(s, c, cs, c.members[id], proxy); ok {
						r.backends.put(b)
					}
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
	l.routes = routes
	l.table.Store(t)
	l.reconcilePortsLocked(t)
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
