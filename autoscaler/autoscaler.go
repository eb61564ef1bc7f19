package autoscaler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// Errors of the package. Returned errors wrap them.
var (
	ErrInvalid  = errors.New("autoscaler: invalid")
	ErrNotFound = errors.New("autoscaler: not found")
)

// StartRequest asks the cloud controller for one member (Stratos' startInstance, §4.5). It has
// the fields of controller.StartRequest, which cmd/strata converts it to.
type StartRequest struct {
	ClusterID          string
	ClusterInstanceID  string
	NetworkPartitionID string
	PartitionID        string
	MinCount           int
	ScalingDecisionID  string
	// Recorded, when the starter calls it, says that the member is recorded (its id and
	// InitTime taken) and only the slow part of the start (the durable write, the IaaS) is left.
	// A round with parallel starts begins the next start only then, so members are recorded in
	// the order the round decided them, as Stratos' cloud controller records them (its
	// partition round-robin test reads that order from InitTime). A starter that never calls it
	// gets its starts one after another.
	Recorded func()
}

// starter is what the autoscaler needs from the cloud controller.
type starter interface {
	StartMember(ctx context.Context, req StartRequest) (model.Member, error)
	TerminateMember(ctx context.Context, memberID string, forced bool) error
}

// startFailures is optionally implemented by the starter: why a member ended before it became
// Active (the controller keeps the reason, e.g. the instance's last output line).
type startFailures interface {
	StartFailure(clusterID, memberID string) (reason string, ok bool)
}

// policySource returns the current policy set; *policies.Store is one.
type policySource interface {
	Set() *policies.Set
}

// recorder keeps decisions for history; *history.Memory and *history.ClickHouse are recorders.
// It must not block: false means the decision was dropped.
type recorder interface {
	RecordDecision(d model.Decision) bool
}

// eventBus is the part of *bus.Client the autoscaler uses.
type eventBus interface {
	PublishEvent(ctx context.Context, e model.Event) error
	Publish(ctx context.Context, topic string, payload []byte, qos byte) error
	SubscribeEvents(ctx context.Context, filter string, handler bus.EventHandler) error
}

// topologyFollower is a bus that takes the complete topology only when asked for
// (*bus.Consumer); on it the autoscaler does not read every complete topology published.
type topologyFollower interface {
	FollowTopology(ctx context.Context, topics []string, handler bus.EventHandler, ask time.Duration) error
}

// DecisionTopic is the bus topic decisions are published on, as model.Decision JSON. It is
// Strata's own (Stratos has no such channel); history subscribes to it when it runs apart.
const DecisionTopic = "strata/autoscaler/decision"

// Defaults of Options (Stratos' autoscaler.xml, §4.1 and §4.9).
const (
	DefaultMonitorInterval                = 90 * time.Second
	DefaultSettle                         = 500 * time.Millisecond
	DefaultPendingMemberExpiry            = 15 * time.Minute
	DefaultTerminationPendingMemberExpiry = 30 * time.Minute
	DefaultObsoleteMemberExpiry           = 24 * time.Hour
	DefaultDecisionHistory                = 8
)

// pendingFailureThreshold is Stratos' PENDING_MEMBER_FAILURE_THRESHOLD: after more pending
// expiries than this in a partition, the pending timeout doubles.
const pendingFailureThreshold = 5

// The cluster properties a topology-created cluster carries its min and max in.
const (
	minCountProperty = "MIN_COUNT"
	maxCountProperty = "MAX_COUNT"
)

const notDefinedInstance = model.NotDefined

// Metric families (indexes of instance.fam) and the components of one CEP window.
const (
	familyRIF = iota
	familyMC
	familyLA
)

const (
	componentAvg  = 1
	componentGrad = 2
	componentSD   = 4
	allComponents = componentAvg | componentGrad | componentSD
)

// Options configure an Autoscaler. Policies and Starter are required.
type Options struct {
	// Policies returns the current policy set on every use (a *policies.Store).
	Policies policySource
	// Starter starts and terminates members (the cloud controller, adapted by cmd/strata).
	Starter starter
	// Bus, if set, is used by Run to subscribe to topology and summarized-health-stats, and to
	// publish instance/notifier cleanup events, cluster/status events and decisions. Without it,
	// events come through HandleEvent and HandleSummary and cleanup events are lost (tests give
	// a fake).
	Bus eventBus
	// Recorder, if set, receives every decision (history).
	Recorder recorder
	// Clock is the source of time: every timeout, window and decision time is read from it, and
	// Run's timers wait for the differences it reports. Default clock.System.
	Clock  clock.Clock
	Logger *slog.Logger
	// MonitorInterval is the period of every cluster instance's monitor tick; default 90s.
	MonitorInterval time.Duration
	// Settle is how long after the first fresh summary family (or a member event that needs
	// action) the instance is evaluated, so that the rest of the CEP's burst for the same window
	// is included; default 500ms.
	Settle time.Duration
	// Member timeouts (§4.9); zero means Stratos' default.
	PendingMemberExpiry            time.Duration
	TerminationPendingMemberExpiry time.Duration
	ObsoleteMemberExpiry           time.Duration
	// DecisionHistory is how many decisions per cluster instance Decisions can return; default 8.
	DecisionHistory int
	// PublishDecisions publishes every decision on DecisionTopic when Bus is set.
	PublishDecisions bool
	// InProcessSummaries: the CEP runs in this process and calls HandleSummary, so Run does not
	// also subscribe to summarized-health-stats (each summary would arrive twice).
	InProcessSummaries bool
	// AwaitApplications: the manager gives the tree its applications at start and then calls
	// ApplicationsLoaded; CompleteApplicationsEvent is not published before (it would lack them).
	AwaitApplications bool
	// StartParallelism is how many StartMember calls a round has in flight at once. Zero or one
	// starts members one after another in the order the round decided them (replays and tests
	// rely on that order). A controller that records each member durably before it answers
	// (an fsync) and starts it on an IaaS is latency-bound: one at a time, 100 000 members take
	// many minutes however idle the machine; in flight together, their writes share one
	// transaction (issue 17).
	StartParallelism int
}

// ClusterSpec registers one cluster instance for autoscaling: the ids, the cartridge's min and
// max (from the application), and the policies by id. Min and max apply to the instance, as in
// Stratos' ClusterInstanceContext.
type ClusterSpec struct {
	ClusterID        string
	InstanceID       string
	NetworkPartition string
	ServiceName      string // the cartridge type
	ApplicationID    string
	TenantID         string
	Min, Max         int
	AutoscalePolicy  string
	DeploymentPolicy string
}

// Autoscaler runs one monitor per cluster instance (§4.1) from a single scheduler.
type Autoscaler struct {
	opts    Options
	log     *slog.Logger
	clock   clock.Clock
	idBase  string
	seq     atomic.Uint64
	wake    chan struct{}
	roundMu sync.Mutex // serializes rounds (Run's loop, Evaluate, RunFixture)

	topology     chan struct{} // closed by the first CompleteTopologyEvent
	topologyOnce sync.Once
	loaded       chan struct{} // closed by ApplicationsLoaded
	loadedOnce   sync.Once

	mu        sync.Mutex              // guards everything below
	topo      map[string]*topoCluster // the last complete topology, by cluster id (nil before the first)
	topoGone  map[string]bool         // members terminated since topo that no monitor knew
	clusters  map[string]*cluster
	members   map[string]*member
	joined    uint64 // the last member seq given (joinLocked)
	queue     instQueue
	scratch   *scratch
	work      []action
	decisions []decisionOut
	spareWork []action // the buffers of the last round, reused by the next (roundMu)
	spareDecs []decisionOut
	tree      tree // the application monitors (tree.go)

	stats   counters
	metrics *metrics

	// followVictim is set by Replay only: it offers the member the live autoscaler terminated in a
	// scale-down at about now to take, which the autoscaler takes when it is a candidate.
	followVictim func(now time.Time, take func(memberID string) bool)
}

type counters struct {
	summaries, unrouted, events, decisions, actions, startErrors, terminateErrors, publishErrors, dropped atomic.Uint64
	startsCancelled                                                                                       atomic.Uint64
}

// Stats are counters for metrics.
type Stats struct {
	Summaries, Unrouted, Events, Decisions, Actions      uint64
	StartErrors, TerminateErrors, PublishErrors, Dropped uint64
	// StartsCancelled are starts a round decided for a cluster removed before they were made.
	StartsCancelled           uint64
	ClusterInstances, Members int
}

// New returns an Autoscaler.
func New(o Options) (*Autoscaler, error) {
	var errs []error
	if o.Policies == nil {
		errs = append(errs, fmt.Errorf("%w: options: Policies is required", ErrInvalid))
	}
	if o.Starter == nil {
		errs = append(errs, fmt.Errorf("%w: options: Starter is required", ErrInvalid))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.MonitorInterval, DefaultMonitorInterval)
	def(&o.Settle, DefaultSettle)
	def(&o.PendingMemberExpiry, DefaultPendingMemberExpiry)
	def(&o.TerminationPendingMemberExpiry, DefaultTerminationPendingMemberExpiry)
	def(&o.ObsoleteMemberExpiry, DefaultObsoleteMemberExpiry)
	if o.DecisionHistory <= 0 {
		o.DecisionHistory = DefaultDecisionHistory
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	a := &Autoscaler{
		opts:     o,
		log:      o.Logger.With("component", "autoscaler"),
		clock:    o.Clock,
		idBase:   hex.EncodeToString(b[:]),
		wake:     make(chan struct{}, 1),
		topology: make(chan struct{}),
		loaded:   make(chan struct{}),
		topoGone: map[string]bool{},
		clusters: map[string]*cluster{},
		members:  map[string]*member{},
		scratch:  newScratch(),
		metrics:  newMetrics(),
		tree:     newTree(),
	}
	return a, nil
}

// Stats returns the counters.
func (a *Autoscaler) Stats() Stats {
	a.mu.Lock()
	n := len(a.queue)
	m := len(a.members)
	a.mu.Unlock()
	c := &a.stats
	return Stats{Summaries: c.summaries.Load(), Unrouted: c.unrouted.Load(), Events: c.events.Load(),
		Decisions: c.decisions.Load(), Actions: c.actions.Load(), StartErrors: c.startErrors.Load(),
		TerminateErrors: c.terminateErrors.Load(), PublishErrors: c.publishErrors.Load(),
		Dropped: c.dropped.Load(), StartsCancelled: c.startsCancelled.Load(), ClusterInstances: n, Members: m}
}

// RegisterCluster creates the monitor of a cluster instance (or updates its min, max and
// policies). The first evaluation is due at once: the min check starts the first members.
func (a *Autoscaler) RegisterCluster(spec ClusterSpec) error {
	var errs []error
	if spec.ClusterID == "" || spec.InstanceID == "" {
		errs = append(errs, fmt.Errorf("%w: cluster spec: clusterId and instanceId are required", ErrInvalid))
	}
	if spec.NetworkPartition == "" {
		errs = append(errs, fmt.Errorf("%w: cluster spec %s: networkPartition is required", ErrInvalid, spec.ClusterID))
	}
	if spec.Min < 0 || spec.Max < spec.Min {
		errs = append(errs, fmt.Errorf("%w: cluster spec %s: want 0 <= min (%d) <= max (%d)", ErrInvalid, spec.ClusterID, spec.Min, spec.Max))
	}
	if spec.AutoscalePolicy == "" || spec.DeploymentPolicy == "" {
		errs = append(errs, fmt.Errorf("%w: cluster spec %s: autoscale and deployment policies are required", ErrInvalid, spec.ClusterID))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	now := a.clock.Now()
	a.mu.Lock()
	a.registerLocked(spec, now)
	a.learnFromTopologyLocked(spec.ClusterID, now)
	a.mu.Unlock()
	a.signal()
	return nil
}

func (a *Autoscaler) registerLocked(spec ClusterSpec, now time.Time) *instance {
	c := a.clusters[spec.ClusterID]
	if c == nil {
		c = &cluster{id: spec.ClusterID, instances: map[string]*instance{}}
		a.clusters[spec.ClusterID] = c
	}
	c.service = orKeep(spec.ServiceName, c.service)
	c.app = orKeep(spec.ApplicationID, c.app)
	c.tenant = orKeep(spec.TenantID, c.tenant)
	c.autoscalePolicy, c.deploymentPolicy = spec.AutoscalePolicy, spec.DeploymentPolicy
	in := c.instances[spec.InstanceID]
	if in == nil {
		in = &instance{c: c, id: spec.InstanceID, np: spec.NetworkPartition, status: model.ClusterCreated,
			created: now, heapIdx: -1, ring: make([]model.Decision, 0, a.opts.DecisionHistory)}
		for f := range in.fam {
			in.fam[f].last = now
		}
		c.instances[spec.InstanceID] = in
		in.nextTick = now.Add(a.opts.MonitorInterval)
		a.queue.schedule(in, now)
	} else {
		a.queue.schedule(in, now)
	}
	in.min, in.max = spec.Min, spec.Max
	in.trigger = triggerEvent
	return in
}

func orKeep(v, old string) string {
	if v == "" {
		return old
	}
	return v
}

// RemoveCluster forgets a cluster and every instance of it (ClusterRemovedEvent does the same).
func (a *Autoscaler) RemoveCluster(clusterID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.removeClusterLocked(clusterID)
}

func (a *Autoscaler) removeClusterLocked(clusterID string) {
	c := a.clusters[clusterID]
	if c == nil {
		return
	}
	for _, in := range c.instances {
		a.removeInstanceLocked(in)
	}
	delete(a.clusters, clusterID)
}

func (a *Autoscaler) removeInstanceLocked(in *instance) {
	for p := range in.parts {
		for l := range in.parts[p].lists {
			for _, m := range in.parts[p].lists[l] {
				delete(a.members, m.id)
			}
		}
	}
	a.queue.remove(in)
	delete(in.c.instances, in.id)
}

// PoliciesInUse lists the autoscaling and deployment policies that registered clusters use, and
// the enforced policies of shadow policies in use, so that the manager can refuse to remove them.
func (a *Autoscaler) PoliciesInUse() []policies.Ref {
	a.mu.Lock()
	seen := map[policies.Ref]bool{}
	for _, c := range a.clusters {
		if len(c.instances) == 0 {
			continue
		}
		seen[policies.Ref{Kind: policies.KindAutoscaling, ID: c.autoscalePolicy}] = true
		seen[policies.Ref{Kind: policies.KindDeployment, ID: c.deploymentPolicy}] = true
	}
	a.treePoliciesLocked(seen)
	a.mu.Unlock()
	out := make([]policies.Ref, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Decisions returns the last n decisions (oldest first) of every instance of the cluster, with
// their traces; RenderTrace explains one. Older decisions are in history.
func (a *Autoscaler) Decisions(clusterID string, n int) []model.Decision {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.clusters[clusterID]
	if c == nil {
		c = &cluster{} // a cluster waiting for its startup order has no monitor yet
	}
	if n <= 0 {
		return nil
	}
	var out []model.Decision
	if w, ok := a.tree.waits[clusterID]; ok {
		out = append(out, w)
	}
	for _, in := range c.instances {
		for i := range in.ring {
			d := in.ringAt(i)
			d.Trace = append([]byte(nil), d.Trace...)
			out = append(out, d)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// signal wakes Run's scheduler.
func (a *Autoscaler) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Run subscribes to the bus (when Options.Bus is set) and runs the scheduler until ctx ends.
func (a *Autoscaler) Run(ctx context.Context) error {
	if b := a.opts.Bus; b != nil {
		h := func(_ string, e model.Event) { a.HandleEvent(e) }
		filters := []string{model.SubscribeTopology, model.SubscribeHealthStats}
		f, following := b.(topologyFollower)
		if following {
			if err := f.FollowTopology(ctx, model.TopologyTopics(), h, 0); err != nil {
				return fmt.Errorf("autoscaler: follow the topology: %w", err)
			}
			filters = filters[1:]
		}
		if a.opts.InProcessSummaries {
			filters = slices.DeleteFunc(filters, func(f string) bool { return f == model.SubscribeHealthStats })
		}
		for _, f := range filters {
			if err := b.SubscribeEvents(ctx, f, h); err != nil {
				return fmt.Errorf("autoscaler: subscribe %s: %w", f, err)
			}
		}
		// CompleteApplicationsEvent: at once on request, and every minute.
		requests := make(chan struct{}, 1)
		err := b.SubscribeEvents(ctx, model.SubscribeInitializer, func(_ string, e model.Event) {
			switch e.(type) {
			case model.CompleteApplicationsRequestEvent, *model.CompleteApplicationsRequestEvent:
				select {
				case requests <- struct{}{}:
				default: // an answer is pending
				}
			}
		})
		if err != nil {
			return fmt.Errorf("autoscaler: subscribe %s: %w", model.SubscribeInitializer, err)
		}
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			a.publishApplications(ctx, b, requests)
		}()
		// Ask for the whole topology, as Stratos components do at start: it rebuilds the
		// monitors and member lists after a restart. Like Stratos' autoscaler, decide nothing
		// before it arrived: a cluster registered meanwhile (the manager resyncs its deployed
		// clusters at start) would show none of its running members, and the min check would
		// start duplicates of them.
		if !a.awaitTopology(ctx, b, !following) {
			return nil
		}
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	parents := time.NewTicker(ParentMonitorInterval)
	defer parents.Stop()
	for {
		a.Evaluate(ctx)
		wait := time.Hour
		a.mu.Lock()
		if len(a.queue) > 0 {
			wait = a.queue[0].due.Sub(a.clock.Now())
		}
		a.mu.Unlock()
		if wait < 0 {
			wait = 0
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-a.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-timer.C:
		case <-parents.C:
			a.checkTree()
		}
	}
}

// TopologyRequestInterval is how often Run asks again for the complete topology until the first
// one arrives (the agents' interval, §7.3).
const TopologyRequestInterval = 5 * time.Second

// awaitTopology waits until a CompleteTopologyEvent has been handled, publishing
// CompleteTopologyRequestEvent every TopologyRequestInterval when ask is set (a follower of the
// topology asks itself); false when ctx ended first.
func (a *Autoscaler) awaitTopology(ctx context.Context, b eventBus, ask bool) bool {
	var t *time.Timer
	var tick <-chan time.Time // nil when the follower asks
	if ask {
		t = time.NewTimer(0)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-a.topology:
			return true
		case <-ctx.Done():
			return false
		case <-tick:
			if err := b.PublishEvent(ctx, &model.CompleteTopologyRequestEvent{}); err != nil {
				a.stats.publishErrors.Add(1)
			}
			t.Reset(TopologyRequestInterval)
		}
	}
}

// alias guesses a cluster's alias from its id (<app>.<alias>.<cartridge>.domain).
func alias(clusterID string) string {
	parts := strings.Split(clusterID, ".")
	if len(parts) >= 4 {
		return parts[1]
	}
	return clusterID
}
