// Package agent is Strata's cartridge agent (`strata agent`): the process inside every member that
// reports the member's lifecycle over the message bus, checks out its artifacts, and publishes its
// health and logs over the Thrift data bridge. It behaves like the Stratos Python agent
// (docs/stratos-wire.md §7), so a Strata platform and a Stratos platform can run it alike.
//
// # Configuration
//
// LoadConfig reads agent.conf (INI, one [agent] section, §7.1) and the launch-params payload
// (§7.2). Every key is looked up in agent.conf first, then in the payload under the same name,
// then under its payload alias (mb.urls → MB_URLS, thrift.receiver.urls → CEP_URLS, ...); "" and
// "null" count as absent. Unlike the Python agent it is strict: an unknown or misspelt key in
// agent.conf is an error naming the file, the line and the nearest known key, and every missing
// required key is reported at once. Timings (health, artifact update, port check, topology
// request, log poll) are Config fields so tests can run fast.
//
// # Lifecycle (§7.3-§7.6)
//
//	Run: subscribe the member events and strata/topology/cluster/<cluster>
//	      ──> publish ClusterTopologyRequestEvent (again every 5 s until initialized; after two
//	          unanswered, or with another LB_CLUSTER_ID: topology/CompleteTopologyEvent and
//	          CompleteTopologyRequestEvent, again every 5 s until answered; topology.go)
//	the cluster's part (or CompleteTopologyEvent) with this member Initialized, or MemberInitializedEvent for it
//	  ──> initialize (once): subscribe instance/#, tenant/#, application/signup/#
//	      ──> CompleteTenantRequestEvent ──> InstanceStartedEvent.sh ──> InstanceStartedEvent
//	      ──> start the log publisher ──> StartServers.sh ──> (PERSISTENCE_MAPPING) VolumeMount.sh
//	      ──> no REPO_URL: activate
//	ArtifactUpdatedEvent for this cluster ──> decrypt the password (model.DecryptPassword)
//	      ──> clone or fetch + hard reset (go-git) ──> ArtifactUpdatedEvent.sh ──> activate
//	      ──> every ArtifactUpdateInterval: auto-commit and push, then fetch + reset
//	activate (once): wait until every PORTS port accepts a connection on the listen address
//	      (listen.address, else the member's private IP from the topology, else localhost), then
//	      InstanceActivatedEvent ──> InstanceActivatedEvent.sh ──> health statistics every 15 s
//	      (cartridge_agent_health_stats: memory_consumption, then load_average). When the ports do
//	      not open within the port-check timeout the member is never activated (§7.6).
//	InstanceCleanupMemberEvent for this member, or InstanceCleanupClusterEvent for its cluster
//	      instance ──> (once) InstanceMaintenanceModeEvent ──> clean.sh ──> InstanceReadyToShutdownEvent
//
// Unlike the PCA, the agent also initializes when the complete topology shows its member Starting
// or Active: that is an agent restarted inside a running member, which announces itself again so
// the member returns to Active instead of staying unreported.
//
// Member{Started,Activated,Terminated,Suspended}Event update the local topology and, once this
// agent is initialized, run the extension of the same name with the event's fields as
// STRATOS_<EVENT>_<FIELD> (e.g. STRATOS_MEMBER_ACTIVATED_MEMBER_ID).
//
// Extensions are <ExtensionsDir>/<Name>.sh (or bash/<Name>.sh, the PCA layout), run with bash in
// their own process group, with every payload parameter and the §7.7 common values as STRATOS_*
// environment variables. A non-zero exit or output on stderr is logged as a failure; extensions
// never stop the lifecycle. What an extension leaves running in its group (StartServers' server)
// is the agent's to stop: when Run's context ends, the agent sends it SIGTERM, waits up to
// ServerStopTimeout (agent.conf server.stop.timeout) for it to end, then kills it, so a server
// finishes its requests when only the agent is signalled (a container's main process on
// Kubernetes).
//
// Repository passwords: Stratos' AES/ECB/PKCS5 Base64 form and Strata's "gcm:" AES-GCM form are
// both accepted (internal/model/crypto.go), keyed by CARTRIDGE_KEY.
//
// Failover: the bus client tries every broker URL in turn on each (re)connect; the data-bridge
// clients (health to the CEP, logs to the monitoring server or else the CEP) fail over between
// their receiver URLs. The CEP's certificate is not verified unless thrift.receiver.ca.file names
// a CA, because the Stratos agents do not verify it and `strata up` generates a self-signed one.
//
// # Goroutines and locks
//
// Run's goroutine is the dispatcher: bus handlers (on the bus client's consumer goroutine) only
// queue events to it, and it updates the local state and hands slow work to goroutines Run
// waits for before returning: the startup sequence, the artifact loop (every checkout and the
// periodic update, serialized), the activation (port wait, then the health loop), the cleanup
// flow, the log tailer, and one goroutine per event-driven extension. The bus client runs on its
// own goroutine under a context that outlives Run's by a bounded flush, so a final
// InstanceReadyToShutdownEvent still reaches the broker.
//
// Agent.mu guards the local topology and the once-flags (initialized, started, activating,
// activated, cleaning). It is the only lock and a leaf: it is never held while publishing,
// running an extension, dialing or calling git.
package agent
