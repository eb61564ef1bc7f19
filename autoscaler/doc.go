// Package autoscaler grows and shrinks every cluster instance the way Apache Stratos' autoscaler
// does (docs/stratos-wire.md §4), with the policy's expr rules, behaviour settings and Rego
// governance on top, and records every decision with a trace that explains it.
//
// # Data flow
//
//	cep.Engine.Subscribe ──HandleSummary──┐                      ┌─► Starter.StartMember / TerminateMember (controller)
//	bus summarized-health-stats/# ────────┤                      ├─► bus instance/notifier (cleanup), cluster/status
//	bus topology/# ──HandleEvent──────────┼─► monitors ─► Evaluate ┼─► Recorder.RecordDecision (history)
//	RegisterCluster (manager, cmd) ───────┘   (state,      (one    └─► bus strata/autoscaler/decision (PublishDecisions)
//	                                           queue)      round)
//
// A monitor is a ClusterInstanceContext (§4.1): min and max of the cartridge, one partition
// context per partition of the deployment policy's network partition (with partitionMax), the
// member lists of each (§4.8), the three metric families with Stratos' reset gating (§4.2), the
// scale-down counter, the stabilization window samples and, for each shadow policy, its own
// counter and window. There is no goroutine per monitor: a single scheduler keeps the monitors
// in a heap by due time.
//
// An instance is due at its monitor tick (MonitorInterval, 90 s as in Stratos), and also Settle
// (500 ms) after a metric family becomes fresh (average, gradient and second derivative of one
// CEP window all received) or after a member event that needs action (fault, ready to shutdown,
// terminated). So a load step is acted on when the CEP's window closes, not up to 90 s later:
// from the first health sample above threshold to the start call takes at most one CEP window
// plus Settle (Stratos: 15 s stats + 60 s window + up to 90 s tick). The scaling rule still runs
// only when a family was reset, at most once per fresh set of CEP outputs, so the scale-down
// counter counts CEP windows (one a minute) where Stratos counts 90 s ticks.
//
// Evaluate decides every due instance, in Stratos' order (ClusterMonitor#monitor):
//
//  1. min check (mincheck.drl): non-terminated < min starts the difference;
//  2. max check (maxcheck.drl): per partition, active above partitionMax terminates the excess;
//  3. scaling (scaling.drl), only with a reset family: predictions (§4.3; MC and LA are means of
//     per-member predictions), required counts (§4.4), Stratos' verdicts, then the policy's expr
//     rules in order (a rule that changes required also moves the verdicts), then behaviour:
//     stabilization windows (HPA's rule: a scale-down acts on the highest required count of its
//     window, a scale-up on the lowest of its own, neither past the active count, so a window
//     never turns a change around), the tolerance band, maxStep; then scale up (partition algorithm per
//     member, §4.6, with the guard additional > 0 against Stratos' spawn loop) or scale down
//     (counted three times, acting on the fourth consecutive request; one member, the lowest
//     (LA + MC)/2 in the partition the algorithm picks). Without a reset family but with every
//     family missing for missingMetrics.after, the missing-metrics action applies instead;
//  4. obsolete check (obsoletecheck.drl) and the partition watchers (§4.9): terminate obsolete
//     members (again each MonitorInterval until MemberTerminated, not each round: a round follows
//     every member event of an undeploy), send InstanceCleanupMemberEvent to termination-pending
//     members (again each MonitorInterval until they answer), expire members stuck in
//     pending (15 min, doubled after 5 expiries in a partition), termination pending (30 min) or
//     obsolete (24 h: forgotten). Obsolete members are terminated forcibly: the graceful part
//     happened in termination pending, or cannot happen (a faulty member's agent is gone), so
//     the controller must not start its own cleanup and graceful timeout.
//
// A start the controller answers with an error is added to the decision that took it before
// the decision is recorded: its reason ends "start failed: <error>" and its trace lists the
// errors by partition (Trace.StartErrors), so `strata explain` never shows a failed start as
// done. The next round's min check tries again.
//
// Every proposed action (start or terminate) is first put to governance as a rules.Proposal;
// Rego runs only then, never for an instance that holds steady, and answers are cached for a
// minute. Each evaluation records one model.Decision — also the ones that changed nothing —
// with a JSON Trace (see Trace) written by hand without allocating; a trace equal to the
// instance's previous one is shared, not copied. A shadow policy (mode: shadow, shadowOf: X) is
// evaluated on the same inputs before X and recorded only where it differs; a dry-run policy
// records the scaling steps it would have taken ("would-start") and does not take them. The
// min, max, obsolete and terminating checks are the cluster's, not the policy's: they act under
// a dry-run policy too (a shadow only records them).
//
// Files: round.go (the round and the run of one policy on one instance), env.go (the inputs a
// run decides on), checks.go (min, max, missing metrics, obsolete, terminating), scaling.go (the
// rule loop, stabilization, scale up and down), events.go (the topology events), topology.go
// (the last complete topology, kept current by the events), governance.go, trace*.go (the
// explanation), replay*.go (`strata policy replay`: inputs, drive, timeline).
//
// # Member lists
//
// Each partition context holds four lists (ClusterLevelPartitionContext) plus a count of start
// calls in flight, which counts as pending:
//
//	                start (decided)           MemberActivated
//	(starting) ──────────────────► pending ────────────────────► active
//	                                  │                            │  scale-down, max check,
//	               pending expiry,    │                            │  MemberMaintenanceMode,
//	               scale-down of a    │                            │  instance Terminating
//	               pending member     ▼                            ▼
//	                              obsolete ◄──── ReadyToShutdown ─ termination-pending ──► InstanceCleanupMemberEvent
//	                                  │   ◄──── 30 min expiry ────┘                         (every round)
//	               MemberFault ───────┤ (from active)
//	                                  ▼
//	                 TerminateMember (forced) every round ─► MemberTerminated: removed from any list
//	                 (after 24 h: forgotten)
//
// Members the controller announces (MemberCreated, CompleteTopology after a restart) join the
// list their status implies. A member has a stats context (its LA and MC averages, gradients
// and second derivatives) while pending or active, recreated empty on MemberActivated, as in
// Stratos; pending members therefore pull the MC and LA means down.
//
// Cluster instance status: Created → Active once active ≥ min; Active → Inactive on a member
// fault that leaves active < min; Terminating (from the topology) cleans up and terminates every
// member; Terminated removes the monitor. The autoscaler publishes the changes it makes as
// cluster/status events; the controller answers with the topology ones.
//
// # The monitor tree
//
// Above the cluster monitors is Stratos' tree (§4.10; tree*.go): an application monitor per
// application the manager added (AddApplication: ApplicationCreatedEvent), an application
// instance per network partition at deploy (DeployApplication), group instances and, at the
// leaves, the cluster monitors above. A child (cartridge or group) of an application or group
// instance is created only once every child its startup orders put before it is Active; each
// wait is recorded as a decision of the waiting cluster ("waiting for cartridge.lb to be
// Active"). A cluster instance's status comes from the topology (ClusterInstanceActivatedEvent,
// ...) and flows up: a parent is Active when every child exists and is Active, Inactive when one
// goes Inactive (tree_hooks.go decides what the termination behaviour does first), and, once
// Terminating, Terminated when every child is. The changes are published on application/*,
// queued with the round's events. UndeployApplication makes the instances Terminating top-down;
// they become Terminated bottom-up, and the application instances when the manager has removed
// the clusters. CompleteApplicationsEvent (Applications) is published every minute and on
// request, once the manager has called ApplicationsLoaded. checkTree, every
// ParentMonitorInterval, is the parent monitors' round.
//
// The parent's reactions (tree_hooks.go, tree_scaling.go; the state-free rules in
// dependents.go): a child with startup dependents going Inactive meets its parent's termination
// behaviour (terminate-all terminates the group instance and creates it again; terminate-dependents
// terminates the child and those after it and creates them again in order). A cluster with
// scaling dependents sends its factor (required / min) to its parent instead of scaling; the
// parent's round pushes the highest one down and each dependent's next round moves it to
// min × factor (the dependent check, after the min and max checks). A cluster that wants more than
// its max makes its group create an instance (up to groupMaxInstances), or else the application
// burst into the next network partition; every cluster of the newest group instance at min wanting
// fewer makes it terminate. Each of these is a decision (action "tree") of the clusters it touched.
//
// # Monitors from topology
//
// With a Bus, Run decides nothing until the first CompleteTopologyEvent has arrived (it asks for
// one at start and again every TopologyRequestInterval), as Stratos' autoscaler waits for an
// initialized topology: clusters registered before it (the manager resyncs its deployed clusters
// at start) would show none of their running members, and the min check would start duplicates.
// What it needs of the last complete topology is kept (each cluster's instances, and its members'
// ids, cluster instances, partitions and states; not the decoded topology, ~2 KB a member): a
// cluster instance registered after it arrived learns its members from it (less those terminated
// since), for the same reason.
//
// RegisterCluster is the explicit way (the manager knows the application's cartridge min and
// max). ClusterCreatedEvent and ApplicationClustersCreatedEvent create monitors too when the
// cluster carries the properties MIN_COUNT (and MAX_COUNT, default MIN_COUNT) and both policy
// names; the instances are the cluster's instance map, or one per network partition of the
// deployment policy.
//
// # Metrics
//
// Collector gives strata_autoscaler_rounds_total and strata_autoscaler_round_seconds (rounds that
// evaluated an instance; wall time, whatever the Clock says), strata_autoscaler_decisions_total
// by action and mode, strata_autoscaler_rule_errors_total (a rule that fails is skipped and its
// trace says why), and the counters of Stats. Every child is resolved in New.
//
// # Concurrency and lock order
//
// Goroutines: Run's scheduler (it calls Evaluate and checkTree), Run's publisher of
// CompleteApplicationsEvent, up to Options.StartParallelism goroutines of a round calling
// StartMember (each applies its answer under mu; the round waits for them before its next
// non-start action and before it ends), the bus's receive goroutine and the CEP's publishing
// goroutine calling HandleEvent and HandleSummary,
// and any caller of Decisions, PoliciesInUse, Stats and RegisterCluster.
//
// Lock order: Autoscaler.roundMu, then Autoscaler.mu (which also guards the tree; the tree's API
// takes mu alone, and UndeployApplication with force calls Evaluate after releasing it). roundMu serializes rounds (Evaluate). mu
// guards all monitor state; HandleSummary and HandleEvent hold it for a map lookup and a few
// stores. Evaluate holds mu while it decides (governance's cache lock, inside rules, is taken
// under it) and releases it before calling the Starter, the bus and the Recorder, which may
// block; the controller's answers are applied under mu again. Nothing calls out of the package
// with mu held.
package autoscaler
