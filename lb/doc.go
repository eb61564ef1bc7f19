// Package lb is Strata's load balancer (`strata lb`): an HTTP reverse proxy whose routes follow the
// topology on the message bus. It listens on every cartridge's proxy port (the keys of the
// service's and the members' port maps), finds the cluster by the request's host name (the
// cluster's hostNames; a port that serves a single cluster also takes unknown hosts), and sends
// the request to the cluster's Active members in turn (round robin). A member leaves the routes
// the moment an event moves it out of Active (MemberMaintenanceModeEvent, MemberReadyToShutdown,
// MemberSuspended, MemberStarted for a restarted agent, MemberTerminated, its cluster instance
// or cluster removed); requests already sent to it finish. A request for a cluster with no
// Active member gets 503 at once, never a hang; a member whose connection fails before the
// request was sent is skipped for the next one.
//
// A member on Kubernetes is reached through the Service that fronts its cluster's port (the
// topology's kubernetesServices, which MemberInitializedEvent brings before the member is Active):
// a NodePort Service at the Kubernetes hosts' addresses in turn, a ClusterIP Service at its portal
// IP, one connection per request; Options.KubernetesPodIPs sends to pod IPs instead (kubernetes.go).
// Round robin still takes turns over the Active members, so a request counts against the cluster
// instance of the member whose turn it was, though Kubernetes chooses the pod.
//
// Every StatsInterval (15 s) it publishes in_flight_requests (docs/stratos-wire.md §2.6), one event
// per cluster instance (or "not-defined" for a cluster without members): the time-weighted
// average number of requests in flight over the interval, which catches short requests that an
// instantaneous count would miss.
//
// # Data flow
//
//	bus: the topology events apply handles, topic by topic, and topology/CompleteTopologyEvent
//	      only while asking (a *bus.Client or *bus.Consumer; intake.go), or topology/#
//	      ──> apply (on the bus consumer's goroutine, under mu) ──> topology
//	      ├─ service, cluster, port changes ──> rebuild ──> routing table (atomic pointer) + open/close proxy ports
//	      └─ member changes ──> the member's backend put into or taken out of its cluster's routes
//	request ──> handler: table.Load ──> port ──> host ──> route ──> round robin ──> ReverseProxy
//	      ──> failover transport (next member on a dial error) ──> member
//	Run's ticker ──> sample the per-instance in-flight integrals ──> CEP publisher
//
// # Files
//
// lb.go holds the options, New and Run; intake.go the subscriptions and when to ask for the
// complete topology; topology.go the member tables, event handling, the
// routing table's rebuild and the proxy ports; backends.go a route's set of members, which a
// member event changes in constant time (a rebuild sorts every member of every cluster, so it
// runs only when services, clusters or ports change); proxy.go the request handler, the upstream choice
// and the retry on a dial error; stats.go the in-flight accounting and its publication; kubernetes.go
// the routes through Kubernetes Services.
//
// # Metrics
//
// Collector gives strata_lb_requests_total by result (proxied, no_cluster, no_member),
// strata_lb_upstream_errors_total (502s), strata_lb_upstream_retries_total and
// strata_lb_requests_in_flight, strata_lb_complete_topologies_total. The counters are resolved in
// New: a request counts with atomic adds only, and nothing is logged per request.
//
// # Goroutines and locks
//
// Run's goroutine (the statistics ticker, and topology requests until a CompleteTopologyEvent comes
// on a bus that does not ask itself), the bus's follower goroutine (the requests of
// bus.Consumer.FollowTopology), the bus consumer's goroutine (apply, see bus.Consumer), one Serve
// goroutine per proxy port and one per port being shut down, plus net/http's per-connection
// goroutines serving requests. Requests take no LB lock: they read the table through an atomic
// pointer, pick a member under their route's backendSet read lock and count in-flight requests
// under their cluster instance's small mutex. Lock order: LB.mu, then backendSet.mu, then
// clusterStats.mu, then instanceStats.mu; the request path takes backendSet.mu (read) and
// instanceStats.mu, one after the other.
package lb
