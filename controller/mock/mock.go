package mock

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/model"
)

// Type is the IaaS type the mock serves: a network partition's provider.
const Type = "mock"

// Factor is a health statistic a pattern drives (the factor names of Stratos' mock-iaas.xml).
type Factor string

// The factors.
const (
	MemoryConsumption Factor = "memory-consumption"
	LoadAverage       Factor = "load-average"
	RequestsInFlight  Factor = "requests-in-flight"
)

// Mode says what a pattern does after its last sample.
type Mode string

// The modes.
const (
	Loop     Mode = "loop"     // start again from the first sample
	Continue Mode = "continue" // keep the last sample
	Stop     Mode = "stop"     // publish nothing more for this factor
)

// Pattern is the sample sequence of one factor for one cartridge type. Every Duration the
// generator moves to the next value; all instances of the cartridge type share the position,
// which starts when the first instance of the type starts.
type Pattern struct {
	Factor   Factor
	Values   []float64
	Duration time.Duration
	Mode     Mode
}

// PublishFunc publishes a batch of health samples (one data-bridge bundle). Samples with Metric
// model.MetricRequestsInFlight belong to the in_flight_requests stream, the others to
// cartridge_agent_health_stats. The slice is reused after the call returns.
type PublishFunc func(ctx context.Context, samples []model.HealthSample) error

// Defaults of Options.
const (
	DefaultInterval   = 15 * time.Second
	DefaultResolution = time.Second
	DefaultBatchSize  = 1000
	bucketInstances   = "mock_instances"
)

// Options configure a Driver.
type Options struct {
	// Bus carries the lifecycle events the instances answer. Required.
	Bus controller.Bus
	// Publish sends health statistics; nil publishes none.
	Publish PublishFunc
	// Patterns by cartridge type; the entry "*" (DefaultType) serves the types that have none,
	// and DefaultPatterns serve them when there is no such entry.
	Patterns map[string][]Pattern
	// Interval between two health publications of an instance (Stratos: 15 s).
	Interval time.Duration
	// Resolution is how often the health loop looks for instances that are due; default the
	// smaller of DefaultResolution and Interval.
	Resolution time.Duration
	// BatchSize is the most samples per Publish call.
	BatchSize int
	// DB, when set, keeps the instances so a restarted process resumes them (bucket
	// mock_instances), as Stratos' mock IaaS keeps them in its registry.
	DB *bbolt.DB
	// Clock defaults to the system clock.
	Clock clock.Clock
	// Logger receives the driver's logs; nil discards them.
	Logger *slog.Logger
}

// Stats are the driver's counters.
type Stats struct {
	Instances     int
	Samples       uint64 // health samples handed to Publish
	Batches       uint64 // Publish calls
	PublishErrors uint64
	Events        uint64 // lifecycle events published
}

// Driver is the mock IaaS. It implements controller.Driver and controller.Watcher.
type Driver struct {
	opts  Options
	clock clock.Clock
	log   *slog.Logger
	seq   atomic.Uint32 // addresses handed out

	mu        sync.Mutex
	instances map[string]*instance
	due       dueHeap // the instances by next health publication (with Publish set)
	types     map[string]*typeState
	places    map[placementKey]*placement
	report    func(controller.Exit)
	buf       []model.HealthSample

	basesMu sync.Mutex
	bases   map[string]*payloadBase // the base payload of new records, by cluster id (state.go)

	queueMu     sync.Mutex
	queue       []model.Event
	queueSignal chan struct{}
	kick        chan struct{} // a new instance: publish its first health at once
	subscribed  chan struct{} // closed once Run has subscribed to the lifecycle events
	stopped     atomic.Bool   // Run returned: bus handlers drop events

	samples, batches, publishErrors, events atomic.Uint64

	// forgetting holds the instances whose deletion from the state is queued; one caller of
	// forget at a time (forgetWriting) writes them.
	forgetMu      sync.Mutex
	forgetting    []string
	forgetWriting bool
}

// typeState is the pattern clock of one cartridge type.
type typeState struct {
	patterns []Pattern
	start    time.Time
}

// instance is one simulated member: ~110 B besides its id, its addresses and its place, which
// it shares with the other instances of its cluster instance and partition (issue 17: the whole
// record of the start, ~350 B, was kept for each).
type instance struct {
	id                  string        // the instance id, which is the member id
	privateIP, publicIP string        // "" when none
	at                  *placement    // shared
	payload             model.Payload // nil with Options.DB: read from the state (payloadLocked)
	next                time.Time     // next health publication
	started             bool          // InstanceStartedEvent sent
	activated           bool          // InstanceActivatedEvent sent
	shutdown            bool          // InstanceReadyToShutdownEvent sent
	gone                bool          // removed from Driver.instances: the health schedule drops it when it is due
}

// placement is where instances run: the same for every instance of a cluster instance in a
// partition, so they share one (Driver.places), counted by its instances.
type placement struct {
	key placementKey
	ts  *typeState
	n   int // instances that refer to it
}

// placementKey is a placement's ids.
type placementKey struct {
	ClusterID, ClusterInstanceID, ServiceName, NetworkPartitionID, PartitionID, ApplicationID string
}

// placeLocked returns the shared placement of record r, with one more instance counted.
func (d *Driver) placeLocked(r *record) *placement {
	k := placementKey{ClusterID: r.ClusterID, ClusterInstanceID: r.ClusterInstanceID, ServiceName: r.ServiceName,
		NetworkPartitionID: r.NetworkPartitionID, PartitionID: r.PartitionID, ApplicationID: r.ApplicationID}
	p := d.places[k]
	if p == nil {
		p = &placement{key: k, ts: d.typeLocked(r.ServiceName, r.StartTime)}
		d.places[k] = p
	}
	p.n++
	return p
}

// newInstanceLocked makes the instance of record r.
func (d *Driver) newInstanceLocked(r *record) *instance {
	in := &instance{id: r.Started.InstanceID, at: d.placeLocked(r), payload: r.Payload}
	if len(r.Started.PrivateIPs) > 0 {
		in.privateIP = r.Started.PrivateIPs[0]
	}
	if len(r.Started.PublicIPs) > 0 {
		in.publicIP = r.Started.PublicIPs[0]
	}
	return in
}

// addresses is what Start returned for the instance.
func (in *instance) addresses() controller.Started {
	st := controller.Started{InstanceID: in.id, MemberID: in.id}
	if in.privateIP != "" {
		st.PrivateIPs = []string{in.privateIP}
	}
	if in.publicIP != "" {
		st.PublicIPs = []string{in.publicIP}
	}
	return st
}

// ErrInstanceExists is Start's error for a member id that already has an instance.
var ErrInstanceExists = errors.New("mock: instance exists")

// record is what the driver keeps (and persists) about an instance.
type record struct {
	Started            controller.Started
	ClusterID          string
	ClusterInstanceID  string
	ServiceName        string
	NetworkPartitionID string
	PartitionID        string
	ApplicationID      string
	Payload            model.Payload `json:",omitempty"` // in the state: PayloadLine, unless the payload fails Check
	PayloadLine        string        `json:",omitempty"` // the launch-params line, in the state only (with Base: the pairs that differ)
	Base               string        `json:",omitempty"` // the base payload's id, in the state only (state.go)
	Own                []string      `json:",omitempty"` // with Base, the keys whose value is the instance id, in the state only
	StartTime          time.Time
}

// New checks the options and loads the persisted instances, if any.
func New(o Options) (*Driver, error) {
	if o.Bus == nil {
		return nil, errors.New("mock: Options.Bus is required")
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Resolution <= 0 {
		// A health loop slower than the interval would publish at its own pace, not every
		// Interval (`strata up --mock-health-interval 250ms` published once a second).
		o.Resolution = min(DefaultResolution, o.Interval)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	for typ, ps := range o.Patterns {
		for i, p := range ps {
			if err := p.check(); err != nil {
				errs = append(errs, fmt.Errorf("mock: pattern %s[%d]: %w", typ, i, err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	d := &Driver{
		opts:        o,
		clock:       o.Clock,
		log:         o.Logger.With("component", "mock_iaas"),
		instances:   map[string]*instance{},
		bases:       map[string]*payloadBase{},
		types:       map[string]*typeState{},
		places:      map[placementKey]*placement{},
		queueSignal: make(chan struct{}, 1),
		kick:        make(chan struct{}, 1),
		subscribed:  make(chan struct{}),
	}
	if err := d.load(); err != nil {
		return nil, err
	}
	return d, nil
}

func (p Pattern) check() error {
	var errs []error
	switch p.Factor {
	case MemoryConsumption, LoadAverage, RequestsInFlight:
	default:
		errs = append(errs, fmt.Errorf("unknown factor %q", p.Factor))
	}
	switch p.Mode {
	case Loop, Continue, Stop:
	default:
		errs = append(errs, fmt.Errorf("unknown mode %q (loop, continue or stop)", p.Mode))
	}
	if len(p.Values) == 0 {
		errs = append(errs, errors.New("no sample values"))
	}
	if p.Duration <= 0 {
		errs = append(errs, errors.New("sample duration must be positive"))
	}
	return errors.Join(errs...)
}

// value is the pattern's sample elapsed after its start, or false when it has none.
func (p *Pattern) value(elapsed time.Duration) (float64, bool) {
	i := int(elapsed / p.Duration)
	if i < len(p.Values) {
		return p.Values[i], true
	}
	switch p.Mode {
	case Loop:
		return p.Values[i%len(p.Values)], true
	case Continue:
		return p.Values[len(p.Values)-1], true
	}
	return 0, false
}

func (d *Driver) load() error {
	if d.opts.DB == nil {
		return nil
	}
	var max uint32
	err := d.opts.DB.Update(func(tx *bbolt.Tx) error {
		if _, err := tx.CreateBucketIfNotExists([]byte(bucketPayloads)); err != nil {
			return err
		}
		b, err := tx.CreateBucketIfNotExists([]byte(bucketInstances))
		if err != nil {
			return err
		}
		used := map[string]bool{}
		err = b.ForEach(func(k, v []byte) error {
			r, err := decodeRecord(string(k), v, nil) // the payload is read from the state when asked for (payloadLocked)
			if err != nil {
				return fmt.Errorf("instance %s: %w", k, err)
			}
			used[r.Base], r.Base = true, ""
			in := d.newInstanceLocked(&r)
			in.started, in.activated = true, true
			d.instances[in.id] = in
			d.scheduleLocked(in)
			for _, ip := range r.Started.PrivateIPs {
				if a, err := netip.ParseAddr(ip); err == nil && a.Is4() {
					b := a.As4()
					max = maxU32(max, binary.BigEndian.Uint32(b[:])-binary.BigEndian.Uint32([]byte{10, 0, 0, 0}))
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		return dropUnusedBases(tx, used)
	})
	if err != nil {
		return fmt.Errorf("mock: load instances: %w", err)
	}
	d.seq.Store(max)
	return nil
}

func maxU32(a, b uint32) uint32 {
	if b > a && b < 1<<24 {
		return b
	}
	return a
}

// typeLocked returns the pattern clock of a cartridge type, starting it at now.
func (d *Driver) typeLocked(typ string, now time.Time) *typeState {
	ts := d.types[typ]
	if ts == nil {
		ps, ok := d.opts.Patterns[typ]
		if !ok {
			// A type no pattern names publishes the default health, so its members are
			// not found silent and replaced; an explicit empty "*" entry means silence.
			if ps, ok = d.opts.Patterns[DefaultType]; !ok {
				ps = DefaultPatterns()
			}
		}
		ts = &typeState{patterns: ps, start: now}
		d.types[typ] = ts
	}
	return ts
}

func addr(base byte, n uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(base)<<24+n)
	return netip.AddrFrom4(b).String()
}

// Start creates a simulated instance. Its id is the member id.
func (d *Driver) Start(ctx context.Context, in controller.Instance) (controller.Started, error) {
	if in.MemberID == "" {
		return controller.Started{}, errors.New("mock: start: no member id")
	}
	n := d.seq.Add(1)
	st := controller.Started{InstanceID: in.MemberID, MemberID: in.MemberID,
		PrivateIPs: []string{addr(10, n)}, PublicIPs: []string{addr(20, n)}}
	if in.PrivateIP != "" {
		st.PrivateIPs[0] = in.PrivateIP
	}
	now := d.clock.Now()
	appID, _ := in.Payload.Get(model.PayloadApplicationID)
	r := record{Started: st, ClusterID: in.ClusterID, ClusterInstanceID: in.ClusterInstanceID, ServiceName: in.ServiceName,
		NetworkPartitionID: in.NetworkPartitionID, PartitionID: in.PartitionID, ApplicationID: appID,
		Payload: in.Payload, StartTime: now}
	d.mu.Lock()
	_, dup := d.instances[st.InstanceID]
	d.mu.Unlock()
	if dup { // before the save, which would replace the running instance's record
		return controller.Started{}, fmt.Errorf("%w: %s", ErrInstanceExists, st.InstanceID)
	}
	if err := d.save(r); err != nil {
		return controller.Started{}, err
	}
	if d.opts.DB != nil {
		r.Payload = nil // read from the state when asked for (payloadLocked)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, dup := d.instances[st.InstanceID]; dup {
		return controller.Started{}, fmt.Errorf("%w: %s", ErrInstanceExists, st.InstanceID)
	}
	inst := d.newInstanceLocked(&r)
	inst.next = now
	d.instances[inst.id] = inst
	d.scheduleLocked(inst)
	select {
	case d.kick <- struct{}{}:
	default:
	}
	return cloneStarted(st), nil
}

func cloneStarted(s controller.Started) controller.Started {
	s.PrivateIPs = slices.Clone(s.PrivateIPs)
	s.PublicIPs = slices.Clone(s.PublicIPs)
	return s
}

// forget deletes an instance from the state. The deletions of concurrent terminations share
// transactions: the caller that finds no write in progress writes every queued deletion, round
// after round until none is left, and the others return at once. An undeploy of 50 000 members
// had each termination wait for its own share of a bbolt batch, behind the controller's
// transactions on the same file (issue 17: the terminators spent 83 % of the undeploy there).
// A deletion lost in a crash leaves an instance that no member owns: the controller terminates
// it when it adopts the instances after the restart.
func (d *Driver) forget(id string) {
	if d.opts.DB == nil {
		return
	}
	d.forgetMu.Lock()
	d.forgetting = append(d.forgetting, id)
	if d.forgetWriting {
		d.forgetMu.Unlock()
		return
	}
	d.forgetWriting = true
	for len(d.forgetting) > 0 {
		// At most controller.StateTxKeys a transaction: a transaction holds a buffer for each
		// page it touches until it commits (49 MB half-way through an undeploy of 100 000 members).
		n := min(len(d.forgetting), controller.StateTxKeys)
		ids := slices.Clone(d.forgetting[:n])
		if d.forgetting = d.forgetting[n:]; len(d.forgetting) == 0 {
			d.forgetting = nil
		}
		d.forgetMu.Unlock()
		if err := d.opts.DB.Update(func(tx *bbolt.Tx) error {
			b := tx.Bucket([]byte(bucketInstances))
			for _, id := range ids {
				if err := b.Delete([]byte(id)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			d.log.Warn("cannot delete instances from the state", "instances", len(ids), "first_instance_id", ids[0], "error", err)
		}
		d.forgetMu.Lock()
	}
	d.forgetWriting = false
	d.forgetMu.Unlock()
}

// remove drops an instance and reports whether it existed.
func (d *Driver) remove(id string) bool {
	d.mu.Lock()
	in, ok := d.instances[id]
	if ok {
		in.gone = true
		delete(d.instances, id)
		if in.at.n--; in.at.n == 0 {
			delete(d.places, in.at.key)
		}
	}
	d.mu.Unlock()
	if !ok {
		return false
	}
	d.forget(id)
	return true
}

// Terminate removes an instance; its health stops. An unknown id is controller.ErrInstanceNotFound.
func (d *Driver) Terminate(ctx context.Context, instanceID string) error {
	if !d.remove(instanceID) {
		return fmt.Errorf("mock: terminate %s: %w", instanceID, controller.ErrInstanceNotFound)
	}
	return nil
}

// List returns every instance.
func (d *Driver) List(ctx context.Context) ([]controller.Started, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]controller.Started, 0, len(d.instances))
	for _, in := range d.instances {
		out = append(out, in.addresses())
	}
	return out, nil
}

// Kill removes an instance without reporting it, like a DELETE on Stratos' mock IaaS API: the
// member goes silent and the CEP's fault detection has to notice.
func (d *Driver) Kill(memberID string) error {
	if !d.remove(memberID) {
		return fmt.Errorf("mock: kill %s: %w", memberID, controller.ErrInstanceNotFound)
	}
	return nil
}

// Crash removes an instance and reports it through Watch, like a process that exits.
func (d *Driver) Crash(memberID string) error {
	if !d.remove(memberID) {
		return fmt.Errorf("mock: crash %s: %w", memberID, controller.ErrInstanceNotFound)
	}
	d.mu.Lock()
	report := d.report
	d.mu.Unlock()
	if report != nil {
		report(controller.Exit{InstanceID: memberID, MemberID: memberID, Time: d.clock.Now(), Reason: "crashed"})
	}
	return nil
}

// Watch delivers Crash reports to report until ctx ends.
func (d *Driver) Watch(ctx context.Context, report func(controller.Exit)) {
	d.mu.Lock()
	d.report = report
	d.mu.Unlock()
	<-ctx.Done()
	d.mu.Lock()
	d.report = nil
	d.mu.Unlock()
}

// Payload returns the launch parameters an instance was started with (Stratos' mock IaaS API
// GET /instances/{id}).
func (d *Driver) Payload(instanceID string) (model.Payload, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	in, ok := d.instances[instanceID]
	if !ok {
		return nil, false
	}
	return slices.Clone(d.payloadLocked(in)), true
}

// Stats returns the driver's counters.
func (d *Driver) Stats() Stats {
	d.mu.Lock()
	n := len(d.instances)
	d.mu.Unlock()
	return Stats{Instances: n, Samples: d.samples.Load(), Batches: d.batches.Load(),
		PublishErrors: d.publishErrors.Load(), Events: d.events.Load()}
}

// Subscribed is closed once Run has subscribed to the lifecycle events it answers: start the
// controller after it, so that no member's first event goes unanswered.
func (d *Driver) Subscribed() <-chan struct{} { return d.subscribed }
