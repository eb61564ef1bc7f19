// Package controller is Strata's cloud controller (Stratos' CC): the registry of cartridges and
// network partitions, the topology (services, clusters, cluster instances, members) with the
// lifecycle state machines of the wire model, member payloads (docs/stratos-wire.md §7.2), and the IaaS
// drivers behind one small interface (Driver: start, terminate, list), each in its own subpackage
// (controller/mock, controller/local).
//
// # Data flow
//
//	API (autoscaler, manager) ──CreateCluster/StartMember/TerminateMember──> Controller ──Driver──> IaaS
//	instance/status/*  ──> handler ──> work queue ──> worker: lifecycle transition ──┐
//	cluster/status/*   ──> handler ──> work queue ──> worker: cluster instance       ├─> state (bbolt)
//	initializer/CompleteTopologyRequestEvent ──> throttled CompleteTopologyEvent      └─> outbox ──> bus, Recorder
//	strata/initializer/ClusterTopologyRequestEvent ──> answerer: the cluster's part, throttled per
//	      cluster, on strata/topology/cluster/<id> (topology_part.go) ──> outbox (urgent slot) ──> bus
//
// Every change happens under the controller's mutex and appends, in the same critical section,
// the events it causes to an ordered outbox; one publisher goroutine hands the outbox to the bus
// and the Recorder in that order. So the events of one member leave in lifecycle order even
// though the API, the bus handlers and the drivers run on different goroutines. Bus handlers only
// queue the decoded event for the worker, so a handler never blocks the bus.
//
// When each topology event is published (Appendix A, §1.5.1):
//   - ServiceCreatedEvent when a cartridge is added, ServiceRemovedEvent when it is removed;
//   - ClusterCreatedEvent (CreateCluster) or ApplicationClustersCreatedEvent
//     (CreateApplicationClusters); ClusterRemovedEvent (RemoveCluster) or
//     ApplicationClustersRemovedEvent (RemoveApplicationClusters) once the members are gone;
//   - ClusterInstanceCreatedEvent when a cluster instance is first used by StartMember or
//     announced by the autoscaler (ClusterStatusClusterInstanceCreatedEvent); the other
//     ClusterInstance* events on the matching cluster/status events;
//   - MemberCreatedEvent when the member is recorded, before the driver's Start (StartMember
//     waits until the bus has taken it); MemberInitializedEvent after Start returned the
//     instance id and addresses (with the cluster's kubernetesServices, which Start's Services
//     add to and a ServiceWatcher's reports remove from: they change no event of their own);
//   - MemberStartedEvent on InstanceStartedEvent, MemberActivatedEvent (port map from the
//     cartridge's port mappings, the member's addresses) on InstanceActivatedEvent,
//     MemberMaintenanceModeEvent on InstanceMaintenanceModeEvent, MemberReadyToShutdownEvent on
//     InstanceReadyToShutdownEvent;
//   - MemberTerminatedEvent after the driver's Terminate, or when a driver reports that the
//     instance ended on its own;
//   - CompleteTopologyEvent every SyncInterval (60 s) and in answer to
//     CompleteTopologyRequestEvent (at most once per TopologyThrottle: requests that arrive
//     together get one answer). It is encoded once per change: every change bumps a version in
//     the critical section that makes it, the publisher caches the encoded event with the
//     version it was taken at, and answers and syncs of an unchanged topology publish the cached
//     bytes without copying or encoding the topology (issue 17: ~880 B per member, re-encoded for
//     every request and every minute). A changed topology is not encoded whole either: each
//     member keeps its JSON until it changes (member.changed, under mu, wherever a member's
//     fields change), the publisher encodes only the members that changed (from copies taken
//     under mu) and splices every member's bytes into the services and clusters, which it
//     encodes without their members (topology_encode.go). The bytes are those encoding/json
//     writes for the whole topology. Once they are, each unchanged member's JSON is a slice of
//     them rather than a copy of its own. Members of a cluster share their port map and, when
//     started with only a min count, their properties (issue 17: memory per member).
//
// A start that fails (the request names an unknown network partition or partition, no driver
// serves the provider, the driver's Start fails) or whose instance ends before the member is
// Active is kept on its cluster as a StartFailure, with the reason and the time, until a member
// of the cluster becomes Active: the manager shows it in the application's runtime view.
//
// A status event whose transition the member's state machine refuses is logged and counted
// (Stats.InvalidTransitions); no event is published. A status event for an unknown member is
// only counted. Every transition is also handed to the Recorder as a model.LifecycleRecord.
//
// # Member lifecycle
//
//	StartMember                                      InstanceStarted        InstanceActivated
//	    │ MemberCreated            MemberInitialized       │ MemberStarted        │ MemberActivated
//	    v                                 v                v                      v
//	 Created ──driver.Start──> Initialized ──────────> Starting ─────────────> Active <──┐
//	    │                          │                       │               │  │   │      │ (Active→Starting
//	    │ Start failed             │                       │     InstanceMaintenanceMode  │  on a restarted
//	    v                          v                       v               v  │   └──────┘  agent)
//	 (removed,               ┌─────────── forced TerminateMember ─── In_Maintenance
//	  MemberTerminated)      │        or driver reports exit            │ InstanceReadyToShutdown
//	                         v                                          v
//	                    Terminated <──────── driver.Terminate ─── ReadyToShutDown
//
// Graceful TerminateMember: a member that is not Active yet is terminated at once; an Active one
// gets InstanceCleanupMemberEvent (repeated every CleanupInterval) and is terminated when it
// reaches ReadyToShutDown, or forcibly after GracefulTimeout. Forced TerminateMember and
// TerminateAll terminate at once, whatever the state (Stratos' terminateInstanceForcefully).
// A terminated member leaves the topology; MemberTerminatedEvent is its last event.
//
// # Undeploy
//
// RemoveApplicationClusters marks the clusters removing (kept in the state: StartMember answers
// ErrRemoving, also after a restart), moves each cluster instance to Terminating and sends one
// InstanceCleanupClusterEvent per instance with Active members (checkGraceful repeats it every
// CleanupInterval, but not while the instance's members answer: answeringLocked); members not
// Active yet are terminated at once. Terminations of many
// members (undeploy, ReadyToShutDown after a graceful request, graceful timeouts) go through a
// queue that Options.TerminateParallelism workers drain, so the queue never has more driver calls in
// flight (TerminateAll bounds its own calls by the same number, apart from the queue).
// An instance whose last member left is Terminated; then the clusters are removed
// (ApplicationClustersRemovedEvent). The call returns ErrClosed when Run ends first.
//
// # Cluster instance lifecycle
//
//	Created ──> Active <──> Inactive        (cluster/status events from the autoscaler)
//	   │  ^       │  ^         │
//	   │  │       v  │         │
//	   │  │    Patching        │
//	   v  │                    v
//	Terminating <──────────────┘ ──> Terminated (removed from the cluster)
//
// Terminating may go back to Created (ClusterResetEvent).
//
// # A member that dies
//
// Decision: when a driver reports an instance that ended without a Terminate call (Watcher),
// the controller publishes MemberTerminatedEvent at once and drops the member. The autoscaler
// removes it from its lists and its min check starts a replacement within one monitor tick,
// instead of the 60-120 s the CEP's silence-based fault detection needs. The CEP fault path stays
// the backstop for what no driver can see: an instance that runs but whose agent is hung or
// killed (controller/mock's Kill, like Stratos' mock IaaS DELETE), for which the autoscaler
// receives MemberFaultEvent and calls TerminateMember; a driver answering ErrInstanceNotFound
// then still leads to MemberTerminatedEvent.
//
// # Restart and adoption
//
// Cartridges, network partitions, clusters (with their cluster instances and credentials) and
// members (with state stack, addresses and driver; the payload is the driver's) are kept in bbolt. API changes are
// written before the call returns; status transitions are written behind by the flusher, which
// writes every member changed since its last transaction in one transaction. Run writes what is
// left before it returns; a crash can lose the transitions of the last transaction in flight,
// and such a member reloads in its previous state (the autoscaler's pending timeout covers one
// stuck before Active).
// When Run starts it asks every driver for List and reconciles: a member whose instance is listed
// is adopted as it was; a member stuck in Created whose instance is listed is completed
// (MemberInitializedEvent); a member whose instance is gone is published as terminated; a listed
// instance that no member owns (the controller stopped between the driver's Start and writing
// the member) is terminated. The API waits until this is done.
//
// # API
//
// The methods of Controller are the Go API (the autoscaler and manager call them in process).
// Handler serves the same operations over HTTP and Client calls them from another process;
// errors wrap ErrNotFound, ErrExists, ErrInUse, ErrInvalid, ErrNoDriver (and the model's
// ErrInvalidCartridge, ErrInvalidNetworkPartition, ErrPayload), which Handler maps to 404, 409
// and 400.
//
// # Member index
//
// Each cluster keeps, per cluster instance, its member ids in order (idSet, a two-level B-tree of
// sorted blocks) and its member counts by state, updated where a member joins MemberMap (creation,
// load), changes state (SetStatus) and leaves it (removal): ApplicationPage and EachInstanceMember,
// the runtime view's reads, cost a page and a binary search, and the counts are summed rather than
// counted, so none of them walks every member under mu (memberindex.go).
//
// # Metrics
//
// Collector gives strata_controller_members by state (the member index's counts, summed under mu
// at each scrape),
// strata_controller_member_starts_total, strata_controller_member_start_failures_total (bad
// requests and driver errors), strata_controller_member_terminations_total (every
// MemberTerminatedEvent, failed starts included) and the rest of Stats.
//
// # Concurrency and lock order
//
// Goroutines: Run's (tickers), the worker (status events), the publisher (outbox), the flusher
// (state writes), the part answerer (cluster parts of the topology), one per Watcher and one per
// ServiceWatcher, and the callers of the API. Locks, in the order they may be taken: Controller.mu
// (all state), then Controller.outMu (the outbox), Controller.dirtyMu (the set of members to write)
// and Controller.termMu (the termination queue); the last three are never held together;
// partAnswers.mu is a leaf, held alone. The terminators (TerminateParallelism goroutines) are Run's
// too. No lock is held while calling a Driver, the Bus, the Recorder, the IssueFunc or bbolt,
// except that bbolt is written under mu by the API calls that must be durable before they return.
package controller
