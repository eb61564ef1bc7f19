package controller

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/model"
)

// Controller is the cloud controller. Create it with New, call Run, and use its methods from any
// goroutine.
type Controller struct {
	opts  Options
	bus   Bus
	db    *bbolt.DB
	ownDB bool
	clock clock.Clock
	log   *slog.Logger

	running  atomic.Bool
	ready    chan struct{}  // closed once Run has adopted the drivers' instances
	stopped  chan struct{}  // closed when Run returns
	inflight sync.WaitGroup // terminations and completions started by the worker

	mu         sync.Mutex // guards the state below (see the lock order in doc.go)
	cartridges map[string]*model.Cartridge
	nps        map[string]*model.NetworkPartition
	clusters   map[string]*cluster
	members    map[string]*member
	gone       chan struct{} // closed and replaced (wakeGoneLocked) when a member leaves or a removal fails
	closed     bool

	outMu     sync.Mutex
	out       []outItem
	topoNext  *topologyItem // a CompleteTopologyEvent to publish urgently, before the next of out
	outSignal chan struct{}

	dirtyMu     sync.Mutex
	dirty       map[string]bool // member ids to write (true) or delete (false)
	dirtyGen    uint64          // incremented by every markDirty
	flushedGen  uint64          // the generation the last completed flush covered
	flushErr    error
	flushed     chan struct{} // closed and replaced after each flush
	dirtySignal chan struct{}

	workMu     sync.Mutex
	work       []model.Event
	workSignal chan struct{}

	topologyRequested chan struct{}
	topoVersion       atomic.Uint64                 // incremented by every change (emit, markDirty)
	topoCache         atomic.Pointer[topologyCache] // the last CompleteTopologyEvent encoded
	parts             partAnswers                   // the clusters' parts of the topology (topology_part.go)

	termMu     sync.Mutex
	termQueue  []*member // members whose instance the terminators terminate, in order
	termSignal chan struct{}

	stats stats
}

// cluster is a cluster and what the controller keeps about it besides the topology object.
type cluster struct {
	Spec        ClusterSpec
	Cluster     *model.Cluster // MemberMap holds the live members
	Credentials Credentials
	// startFailure is the last failed start since a member was Active (kept in memory only).
	startFailure *StartFailure
	// removing: RemoveApplicationClusters is removing the cluster; no member starts in it
	// (kept in the state, so a restart does not start members in it either).
	removing bool
	// remaining counts, by cluster instance, the members left while removing: the instance is
	// Terminated when its count reaches zero.
	remaining map[string]int
	// answered holds, by cluster instance, when a member of the removing cluster last answered
	// the clean-up (went InMaintenance): the clean-up is not asked again while its members are
	// still answering (checkGraceful).
	answered map[string]time.Time
	// removeErr is why a member of a removing cluster could not be terminated.
	removeErr error
	// index holds, by cluster instance, the ids and counts by state of the members in
	// Cluster.MemberMap (memberindex.go).
	index map[string]*instanceIndex
	// portMap is the port map of portMapFrom, shared by the cluster's Active members (nothing
	// modifies a member's port map: events and copies clone it), not one map each (issue 17).
	portMap     model.PortMap
	portMapFrom *model.Cartridge
	// minCount holds the properties of members started with only a min count, by the count:
	// shared by those members like portMap.
	minCount map[int]model.Properties
}

// minCountProperties are the properties of a member started with min count n and no other.
func (cl *cluster) minCountProperties(n int) model.Properties {
	p := cl.minCount[n]
	if p == nil {
		if cl.minCount == nil {
			cl.minCount = map[int]model.Properties{}
		}
		p = model.Properties{model.PayloadMinCount: strconv.Itoa(n)}
		cl.minCount[n] = p
	}
	return p
}

// portMapOf is the port map of the cluster's cartridge ct, the one made for ct before if any.
func (cl *cluster) portMapOf(ct *model.Cartridge) model.PortMap {
	if cl.portMapFrom != ct {
		cl.portMap, cl.portMapFrom = ct.PortMap(), ct
	}
	return cl.portMap
}

// member is a member of the topology and what the controller keeps about it.
type member struct {
	m      *model.Member // the object in the cluster's MemberMap
	driver string

	grace  *grace // a graceful termination under way; nil: none
	exited *Exit  // the driver reported the instance ended while Start was in flight

	rev uint64 // counts the changes of m (changed)
	enc []byte // m's JSON at rev, for the complete topology; nil when stale

	starting    bool // the driver's Start is in flight
	cancelled   bool // terminated while Start was in flight
	terminating bool // the driver's Terminate is in flight
}

// grace is a member's graceful termination: apart from the member, which needs it only while it
// is being drained (issue 17: 48 B and the padding around it, 64 B a member).
type grace struct {
	deadline    time.Time // when the graceful termination turns forced
	nextCleanup time.Time // when InstanceCleanupMemberEvent is sent again
}

// outItem is one entry of the ordered outbox.
type outItem struct {
	ev       model.Event
	topology *topologyItem // a CompleteTopologyEvent, instead of ev
	rec      *model.LifecycleRecord
	done     chan struct{}
}

type stats struct {
	published, publishErrors, recordsDropped   atomic.Uint64
	invalidTransitions, unknownMembers         atomic.Uint64
	statusEvents, topologyPublished, adopted   atomic.Uint64
	topologySyncsSkipped                       atomic.Uint64
	adoptTerminated, orphansTerminated, exited atomic.Uint64
	starts, startFailures, terminations        atomic.Uint64
	terminationErrors, stateWrites             atomic.Uint64
	topologyEncodes, topologyEncodeNanos       atomic.Uint64
}

// Stats are the controller's counters, for metrics.
type Stats struct {
	Members            int
	Clusters           int
	Published          uint64 // events handed to the bus
	PublishErrors      uint64
	RecordsDropped     uint64        // lifecycle records the Recorder refused
	StatusEvents       uint64        // instance and cluster status events handled
	InvalidTransitions uint64        // status events refused by a lifecycle machine
	UnknownMembers     uint64        // status events for members the controller does not have
	TopologyPublished  uint64        // CompleteTopologyEvents
	TopologySkipped    uint64        // periodic CompleteTopologyEvents not published: nothing new for anyone
	Adopted            uint64        // members adopted from the drivers after a restart
	AdoptTerminated    uint64        // members whose instance was gone after a restart
	OrphansTerminated  uint64        // instances no member owned after a restart
	Exited             uint64        // instances a driver reported as ended on their own
	Starts             uint64        // members whose instance a driver started
	StartFailures      uint64        // StartMember calls that failed (bad request or driver error)
	Terminations       uint64        // members dropped from the topology (MemberTerminatedEvent)
	TerminationErrors  uint64        // queued terminations the driver failed
	StateWrites        uint64        // transactions the flusher wrote members' state in
	TopologyEncodes    uint64        // CompleteTopologyEvents encoded: the others came from the cache
	TopologyEncodeTime time.Duration // spent encoding them, all together
}

// New opens the state and returns a controller that is not running yet.
func New(o Options) (*Controller, error) {
	if o.Bus == nil {
		return nil, fmt.Errorf("controller: %w: Options.Bus is required", ErrInvalid)
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.TopologyThrottle <= 0 {
		o.TopologyThrottle = DefaultTopologyThrottle
	}
	if o.TerminateParallelism <= 0 {
		o.TerminateParallelism = DefaultTerminateParallelism
	}
	if o.GracefulTimeout <= 0 {
		o.GracefulTimeout = DefaultGracefulTimeout
	}
	if o.CleanupInterval <= 0 {
		o.CleanupInterval = DefaultCleanupInterval
	}
	if o.Payload != nil {
		if err := o.Payload.Check(); err != nil {
			return nil, fmt.Errorf("controller: %w: Options.Payload: %w", ErrInvalid, err)
		}
	}
	c := &Controller{
		opts:              o,
		bus:               o.Bus,
		db:                o.DB,
		clock:             o.Clock,
		log:               o.Logger.With("component", "controller"),
		ready:             make(chan struct{}),
		stopped:           make(chan struct{}),
		cartridges:        map[string]*model.Cartridge{},
		nps:               map[string]*model.NetworkPartition{},
		clusters:          map[string]*cluster{},
		members:           map[string]*member{},
		gone:              make(chan struct{}),
		outSignal:         make(chan struct{}, 1),
		dirty:             map[string]bool{},
		flushed:           make(chan struct{}),
		dirtySignal:       make(chan struct{}, 1),
		workSignal:        make(chan struct{}, 1),
		topologyRequested: make(chan struct{}, 1),
		termSignal:        make(chan struct{}, 1),
	}
	if c.db == nil {
		if o.DataDir == "" {
			return nil, fmt.Errorf("controller: %w: Options.DB or Options.DataDir is required", ErrInvalid)
		}
		if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("controller: data dir: %w", err)
		}
		db, err := bbolt.Open(filepath.Join(o.DataDir, DefaultStatePath), 0o600, StateOptions(5*time.Second))
		if err != nil {
			return nil, fmt.Errorf("controller: open state: %w", err)
		}
		c.db, c.ownDB = db, true
	}
	if err := c.load(); err != nil {
		if c.ownDB {
			c.db.Close()
		}
		return nil, err
	}
	return c, nil
}

// Close releases the state database when New opened it. Call it after Run has returned.
func (c *Controller) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	if c.ownDB {
		return c.db.Close()
	}
	return nil
}

// Stats returns the controller's counters.
func (c *Controller) Stats() Stats {
	c.mu.Lock()
	s := Stats{Members: len(c.members), Clusters: len(c.clusters)}
	c.mu.Unlock()
	s.Published = c.stats.published.Load()
	s.PublishErrors = c.stats.publishErrors.Load()
	s.RecordsDropped = c.stats.recordsDropped.Load()
	s.StatusEvents = c.stats.statusEvents.Load()
	s.InvalidTransitions = c.stats.invalidTransitions.Load()
	s.UnknownMembers = c.stats.unknownMembers.Load()
	s.TopologyPublished = c.stats.topologyPublished.Load()
	s.TopologySkipped = c.stats.topologySyncsSkipped.Load()
	s.Adopted = c.stats.adopted.Load()
	s.AdoptTerminated = c.stats.adoptTerminated.Load()
	s.OrphansTerminated = c.stats.orphansTerminated.Load()
	s.Exited = c.stats.exited.Load()
	s.Starts = c.stats.starts.Load()
	s.StartFailures = c.stats.startFailures.Load()
	s.Terminations = c.stats.terminations.Load()
	s.TerminationErrors = c.stats.terminationErrors.Load()
	s.StateWrites = c.stats.stateWrites.Load()
	s.TopologyEncodes = c.stats.topologyEncodes.Load()
	s.TopologyEncodeTime = time.Duration(c.stats.topologyEncodeNanos.Load())
	return s
}

// Run subscribes to the bus, adopts the drivers' instances, then publishes the topology, handles
// status events and drives graceful terminations until ctx ends. It returns after its goroutines
// have exited and the state is written. Run may be called once.
func (c *Controller) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return fmt.Errorf("controller: Run called twice")
	}
	defer close(c.stopped)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	wg.Go(func() { c.publisher(ctx) })
	wg.Go(func() { c.flusher(ctx) })
	wg.Go(func() { c.answerParts(ctx) })
	defer func() {
		cancel()
		wg.Wait()
		c.inflight.Wait()
		c.flush() // whatever changed since the flusher stopped
	}()

	subs := []struct {
		filter string
		h      func(string, model.Event)
	}{
		{"instance/status/#", c.enqueue},
		{"cluster/status/#", c.enqueue},
		{model.TopicOf(model.CompleteTopologyRequestEvent{}), func(string, model.Event) { c.requestTopology() }},
		{model.TopicOf(model.ClusterTopologyRequestEvent{}), c.requestClusterTopology},
	}
	for _, s := range subs {
		if err := c.bus.SubscribeEvents(ctx, s.filter, s.h); err != nil {
			return fmt.Errorf("controller: subscribe %s: %w", s.filter, err)
		}
	}
	if err := c.adopt(ctx); err != nil {
		return err
	}
	close(c.ready)
	for typ, d := range c.opts.Drivers {
		if w, ok := d.(Watcher); ok {
			wg.Go(func() { w.Watch(ctx, func(e Exit) { c.instanceExited(typ, e) }) })
		}
		if w, ok := d.(ServiceWatcher); ok {
			wg.Go(func() { w.WatchServices(ctx, c.serviceGone) })
		}
	}
	wg.Go(func() { c.worker(ctx) })
	for range c.opts.TerminateParallelism {
		wg.Go(func() { c.terminator(ctx) })
	}

	last := c.mark() // of the last complete topology published
	c.publishTopology()
	resync := c.clock.NewTicker(c.opts.SyncInterval)
	defer resync.Stop()
	check := c.clock.NewTicker(min(c.opts.CleanupInterval, time.Second*10))
	defer check.Stop()
	answers := newThrottle(c.clock, c.opts.TopologyThrottle)
	defer answers.stop()
	for {
		var asked []string
		select {
		case <-ctx.Done():
			return nil
		case <-resync.C():
			last = c.periodicSync(last)
			continue
		case <-check.C():
			c.checkGraceful()
			continue
		case <-c.topologyRequested:
			asked = []string{""}
		case <-answers.due():
		}
		if len(answers.take(asked...)) > 0 {
			last = c.mark()
			c.publishTopology()
		}
	}
}

// Ready is closed once Run has subscribed and adopted the drivers' instances; from then on the
// API serves requests.
func (c *Controller) Ready() <-chan struct{} { return c.ready }

// Running reports whether Run has adopted the drivers' instances and has not returned: the
// controller starts and stops members.
func (c *Controller) Running() bool {
	select {
	case <-c.stopped:
		return false
	default:
	}
	select {
	case <-c.ready:
		return true
	default:
		return false
	}
}

// waitReady waits until Run has adopted the drivers' instances. A call made before Run started
// waits for it: the manager resumes an interrupted undeploy as the platform starts, concurrently
// with the controller's Run, and failing it with ErrNotRunning left the application Undeploying
// until the next restart.
func (c *Controller) waitReady(ctx context.Context) error {
	select {
	case <-c.ready:
		return nil
	case <-c.stopped:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Controller) requestTopology() {
	select {
	case c.topologyRequested <- struct{}{}:
	default:
	}
}

// emitLocked appends an event and its lifecycle record to the outbox; c.mu is held, so the
// outbox order is the order of the changes.
func (c *Controller) emitLocked(ev model.Event, rec *model.LifecycleRecord) chan struct{} {
	return c.emit(ev, rec, false)
}

func (c *Controller) emit(ev model.Event, rec *model.LifecycleRecord, wait bool) chan struct{} {
	c.topologyChanged()
	return c.enqueueOut(outItem{ev: ev, rec: rec}, wait)
}

// topologyChanged bumps the topology's version and drops the cached encoding of the complete
// topology, stale from now on: at 100 000 members it is ~90 MB, which an undeploy, where nobody
// asks for a complete topology, would otherwise keep to its end.
func (c *Controller) topologyChanged() {
	c.topoVersion.Add(1)
	if c.topoCache.Load() != nil {
		c.topoCache.Store(nil)
	}
}

// enqueueOut appends it to the outbox, with a done channel closed once it is published when
// wait is set.
func (c *Controller) enqueueOut(it outItem, wait bool) chan struct{} {
	if wait {
		it.done = make(chan struct{})
	}
	c.outMu.Lock()
	c.out = append(c.out, it)
	c.outMu.Unlock()
	select {
	case c.outSignal <- struct{}{}:
	default:
	}
	return it.done
}

// publisher hands the outbox to the bus and the Recorder, in order.
func (c *Controller) publisher(ctx context.Context) {
	var batch []outItem
	logged := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.outSignal:
		}
		batch = c.publishOut(ctx, batch, &logged)
	}
}

// publishOut takes the outbox and publishes it in order; batch is reused storage, returned
// cleared.
func (c *Controller) publishOut(ctx context.Context, batch []outItem, logged *bool) []outItem {
	c.outMu.Lock()
	batch, c.out = c.out, batch[:0]
	c.outMu.Unlock()
	published := func(err error) {
		if err != nil {
			c.stats.publishErrors.Add(1)
			if !*logged && ctx.Err() == nil {
				*logged = true
				c.log.Warn("cannot publish event; further errors are only counted", "error", err)
			}
		} else {
			c.stats.published.Add(1)
		}
	}
	urgent := func() {
		if sent, err := c.publishUrgentTopology(ctx); sent || err != nil {
			published(err)
		}
	}
	for i := range batch {
		it := &batch[i]
		if it.ev != nil || it.topology != nil {
			urgent()
			published(c.publishItem(ctx, it))
		}
		if it.rec != nil && c.opts.Recorder != nil && !c.opts.Recorder.RecordLifecycle(*it.rec) {
			c.stats.recordsDropped.Add(1)
		}
		if it.done != nil {
			close(it.done)
		}
		*it = outItem{}
	}
	urgent()
	return batch[:0]
}

// enqueue hands a status event to the worker; it never blocks the bus.
func (c *Controller) enqueue(_ string, e model.Event) {
	select {
	case <-c.stopped: // the bus client outlives Run: drop
		return
	default:
	}
	c.workMu.Lock()
	c.work = append(c.work, e)
	c.workMu.Unlock()
	select {
	case c.workSignal <- struct{}{}:
	default:
	}
}

func (c *Controller) worker(ctx context.Context) {
	var batch []model.Event
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.workSignal:
		}
		c.workMu.Lock()
		batch, c.work = c.work, batch[:0]
		c.workMu.Unlock()
		for i, e := range batch {
			c.stats.statusEvents.Add(1)
			c.handleStatus(ctx, e)
			batch[i] = nil
		}
	}
}

// record builds the lifecycle record of a member transition.
func (c *Controller) memberRecord(m *model.Member, appID, class string) *model.LifecycleRecord {
	return &model.LifecycleRecord{
		Time: c.clock.Now(), Entity: "member", Event: class, ServiceName: m.ServiceName,
		ApplicationID: appID, ClusterID: m.ClusterID, ClusterInstanceID: m.ClusterInstanceID,
		NetworkPartitionID: m.NetworkPartitionID, PartitionID: m.PartitionID, MemberID: m.MemberID,
		Status: string(m.Status()),
	}
}
