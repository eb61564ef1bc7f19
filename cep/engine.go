package cep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unique"

	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
)

// Defaults of Options.
const (
	DefaultWindow             = time.Minute
	DefaultFaultTimeout       = time.Minute
	DefaultFaultCheckInterval = time.Second
	DefaultStartupGrace       = 2 * time.Minute
	DefaultMaxWindowEvents    = 4096
	DefaultHistoryBuffer      = 1 << 16
	DefaultLogBuffer          = 1 << 14
	DefaultPublishBuffer      = 1 << 20
)

// maxPendingFaults bounds the ports_not_open faults waiting for the Run goroutine.
const maxPendingFaults = 1 << 16

// ErrInvalidOptions is wrapped by New when Options are out of range.
var ErrInvalidOptions = errors.New("cep: invalid options")

// ErrRunning is returned by Run when the engine already runs.
var ErrRunning = errors.New("cep: engine already running")

// Publisher sends a summary to the message broker, in the §1.4 envelope on model.SummaryTopic.
// It is called from one goroutine; it may block (the engine queues behind it).
type Publisher interface {
	Publish(ctx context.Context, s model.Summary) error
}

// PublishFunc adapts a function to Publisher.
type PublishFunc func(ctx context.Context, s model.Summary) error

// Publish calls f.
func (f PublishFunc) Publish(ctx context.Context, s model.Summary) error { return f(ctx, s) }

// Recorder keeps raw and summarized statistics and log lines (the history component implements
// it). Batches are handed over from one goroutine; the slices are reused once a call returns, so
// an implementation copies what it keeps. A call may block: the engine sheds raw events and log
// lines (counted in Stats) and queues summaries meanwhile. A summary batch whose call fails is
// retried, so summaries are never lost; a failed raw or log batch is counted and dropped.
type Recorder interface {
	RecordHealth(ctx context.Context, batch []model.HealthSample) error
	RecordSummaries(ctx context.Context, batch []model.Summary) error
	RecordLogs(ctx context.Context, batch []model.LogEntry) error
}

// Options configure an Engine. Zero values take the defaults.
type Options struct {
	// Window is the length of a batch (default 1 minute, as in Stratos).
	Window time.Duration
	// Sliding, when non-zero, makes windows slide: every Sliding the engine emits the summaries of
	// the last Window. Window must be a multiple of Sliding. Zero means tumbling batches.
	Sliding time.Duration
	// FaultTimeout is how long a member in the topology may stay silent before a MemberFaultEvent
	// (default 60 s, Stratos' TIME_OUT).
	FaultTimeout time.Duration
	// FaultCheckInterval is how often silences are checked (default 1 s). A fault is raised
	// between FaultTimeout and FaultTimeout + 2*FaultCheckInterval after the member's last event.
	FaultCheckInterval time.Duration
	// StartupGrace is how long after Run starts no silence fault is raised, so members get time to
	// reconnect after a CEP restart (default 2 minutes; Stratos uses 15). Negative means none.
	StartupGrace time.Duration
	// MaxWindowEvents bounds the events one key keeps per window (default 4096); see window.go.
	MaxWindowEvents int
	// HistoryBuffer bounds the raw health events waiting for the Recorder (default 65536);
	// LogBuffer the log lines (default 16384); PublishBuffer the summaries waiting for the
	// Publisher (default 1<<20). What does not fit is shed and counted.
	HistoryBuffer int
	LogBuffer     int
	PublishBuffer int
	Clock         clock.Clock  // default: the time package; window ends, fault scans and the start-up grace read it
	Publisher     Publisher    // nil: summaries go to subscribers and history only
	Recorder      Recorder     // nil: nothing is recorded
	Logger        *slog.Logger // nil: discard
}

func (o *Options) setDefaults() error {
	var errs []error
	def := func(d *time.Duration, v time.Duration, name string) {
		if *d == 0 {
			*d = v
		}
		if *d < 0 {
			errs = append(errs, fmt.Errorf("%s %v is negative", name, *d))
		}
	}
	def(&o.Window, DefaultWindow, "window")
	def(&o.FaultTimeout, DefaultFaultTimeout, "fault timeout")
	def(&o.FaultCheckInterval, DefaultFaultCheckInterval, "fault check interval")
	switch {
	case o.StartupGrace == 0:
		o.StartupGrace = DefaultStartupGrace
	case o.StartupGrace < 0:
		o.StartupGrace = 0
	}
	if o.Sliding < 0 {
		errs = append(errs, fmt.Errorf("sliding %v is negative", o.Sliding))
	} else if o.Sliding > 0 && o.Window > 0 {
		if o.Window%o.Sliding != 0 {
			errs = append(errs, fmt.Errorf("window %v is not a multiple of sliding %v", o.Window, o.Sliding))
		} else if o.Window/o.Sliding > 3600 {
			errs = append(errs, fmt.Errorf("window %v has more than 3600 slides of %v", o.Window, o.Sliding))
		}
	}
	ints := []struct {
		p    *int
		v    int
		min  int
		name string
	}{
		{&o.MaxWindowEvents, DefaultMaxWindowEvents, 4, "max window events"},
		{&o.HistoryBuffer, DefaultHistoryBuffer, 1, "history buffer"},
		{&o.LogBuffer, DefaultLogBuffer, 1, "log buffer"},
		{&o.PublishBuffer, DefaultPublishBuffer, 1, "publish buffer"},
	}
	for _, f := range ints {
		if *f.p == 0 {
			*f.p = f.v
		}
		if *f.p < f.min {
			errs = append(errs, fmt.Errorf("%s %d is below %d", f.name, *f.p, f.min))
		}
	}
	if o.Clock == nil {
		o.Clock = clock.System{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	return nil
}

// Member identifies a member as the topology knows it.
type Member struct {
	ClusterID          string
	ClusterInstanceID  string
	NetworkPartitionID string
	PartitionID        string
	MemberID           string
	// Active tells SeedTopology that the member is in the Active state; MemberActivated ignores it.
	Active bool
}

// metric indexes the windows of a key.
const (
	metricLoad = iota
	metricMemory
	metricRIF
)

// ids are the attributes a key's summaries carry besides the key itself.
type ids struct {
	cluster, instance, np, partition string
}

// memberState is the state of one member: its two windows (member_id plans of §3.2) and its
// fault-detection entry.
type memberState struct {
	id       string
	ids      ids
	win      [2]window // metricLoad, metricMemory
	ci       *ciState  // the member's key(ci) state, cached to save a map lookup per event
	lastSeen int64     // ms, the engine's coarse time of the last health event
	tracked  bool      // in the topology view: silences are faults
	watchIdx int       // position in Engine.watched when tracked
	allIdx   int       // position in Engine.all
	faulted  bool      // a fault was raised for the current silence
}

// ciKey is key(ci) of §3.2: cluster and cluster instance.
type ciKey struct{ cluster, instance string }

// ciState is the state of one key(ci): load average, memory consumption and in-flight requests.
type ciState struct {
	key  ciKey
	np   string // network partition of the batch's first event
	win  [3]window
	dead bool // removed from the engine: members holding it look it up again
}

// npKey is key(np) of §3.2: cluster and network partition.
type npKey struct{ cluster, np string }

// npState is the state of one key(np): the in-flight gradient and second derivative.
type npState struct {
	key      npKey
	instance string // cluster instance of the batch's first event
	win      window
}

// Engine is the CEP: it partitions health events by key, summarizes them per window, detects
// member faults and hands raw events and summaries on. See the package documentation.
type Engine struct {
	opt     Options
	log     *slog.Logger
	sliding bool
	buckets int // sliding buckets per window (1 when tumbling)
	limit   int // Options.MaxWindowEvents

	running atomic.Bool
	subs    atomic.Pointer[[]func(model.Summary)]

	// mu guards everything below it.
	mu         sync.Mutex
	members    map[string]*memberState
	all        []*memberState // the members of members, walked by window ends in (mostly) allocation order
	lastMember *memberState   // the member of the last health event, or nil
	watched    []*memberState // the tracked members, so a fault scan walks a dense slice
	cis        map[ciKey]*ciState
	nps        map[npKey]*npState
	layouts    map[*databridge.StreamDefinition]*layout
	lastDef    *databridge.StreamDefinition // one-entry cache in front of layouts
	lastLayout *layout
	now        int64 // ms: coarse time, refreshed by every tick and fault scan
	graceEnd   int64 // ms: no silence fault before
	cur        int   // the sliding bucket filling now
	raw        []model.HealthSample
	rawShed    uint64
	faults     []model.Summary // ports_not_open faults waiting for the Run goroutine
	st         counters

	wake chan struct{} // faults are waiting

	out     []model.Summary // summaries of the current tick; Run goroutine only
	rawWake chan struct{}
	logs    *queue[model.LogEntry]
	hist    *queue[model.Summary]
	pub     *queue[model.Summary]
	errs    struct{ history, publish atomic.Uint64 }
}

// counters are the engine's event counters, guarded by Engine.mu.
type counters struct {
	ingested, unknown, logs, summaries, faults, faultsShed, overflow uint64
}

// New returns an engine. It does nothing until Run.
func New(opt Options) (*Engine, error) {
	if err := opt.setDefaults(); err != nil {
		return nil, err
	}
	e := &Engine{
		opt:     opt,
		log:     opt.Logger.With("component", "cep"),
		sliding: opt.Sliding > 0,
		buckets: 1,
		limit:   opt.MaxWindowEvents,
		members: make(map[string]*memberState),
		cis:     make(map[ciKey]*ciState),
		nps:     make(map[npKey]*npState),
		layouts: make(map[*databridge.StreamDefinition]*layout),
		wake:    make(chan struct{}, 1),
		rawWake: make(chan struct{}, 1),
		logs:    newQueue[model.LogEntry](opt.LogBuffer),
		hist:    newQueue[model.Summary](0),
		pub:     newQueue[model.Summary](opt.PublishBuffer),
	}
	if e.sliding {
		e.buckets = int(opt.Window / opt.Sliding)
	}
	if opt.Recorder != nil {
		e.raw = make([]model.HealthSample, 0, min(opt.HistoryBuffer, 4096))
	}
	e.now = opt.Clock.Now().UnixMilli()
	e.graceEnd = e.now + opt.StartupGrace.Milliseconds()
	return e, nil
}

// Subscribe adds an in-process consumer of every summary and fault (the autoscaler). Consumers are
// called in order from the Run goroutine, one summary at a time, without JSON; they must not
// block for long (window ends and fault scans wait for them).
func (e *Engine) Subscribe(f func(model.Summary)) {
	for {
		old := e.subs.Load()
		var next []func(model.Summary)
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, f)
		if e.subs.CompareAndSwap(old, &next) {
			return
		}
	}
}

// intern returns the canonical copy of s, so that the ids kept by many keys share memory and do
// not pin the buffers they were decoded from.
func intern(s string) string { return unique.Make(s).Value() }

// Ingest processes one raw health sample: a cartridge_agent_health_stats event or, when Metric is
// model.MetricRequestsInFlight, an in_flight_requests event. It never blocks on the consumers.
func (e *Engine) Ingest(s model.HealthSample) {
	e.mu.Lock()
	e.ingestLocked(&s)
	e.mu.Unlock()
}

// ingestLocked is the hot path: no allocation once the keys exist and their buffers have grown.
func (e *Engine) ingestLocked(s *model.HealthSample) {
	if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
		e.st.unknown++ // would poison every window it enters
		return
	}
	if e.opt.Recorder != nil {
		if len(e.raw) < e.opt.HistoryBuffer {
			e.raw = append(e.raw, *s)
			if len(e.raw) == 1 {
				select {
				case e.rawWake <- struct{}{}:
				default:
				}
			}
		} else {
			e.rawShed++
		}
	}
	var m int
	switch s.Metric {
	case model.MetricLoadAverage:
		m = metricLoad
	case model.MetricMemoryConsumption:
		m = metricMemory
	case model.MetricRequestsInFlight:
		e.st.ingested++
		e.inFlightLocked(s)
		return
	case model.MetricPortsNotOpen:
		e.st.ingested++
		e.touchLocked(s)
		if len(e.faults) >= maxPendingFaults {
			e.st.faultsShed++ // Run is not draining: do not grow without bound
			return
		}
		e.st.faults++
		e.faults = append(e.faults, model.Summary{
			Kind:               model.MemberFault,
			ClusterID:          s.ClusterID,
			ClusterInstanceID:  s.ClusterInstanceID,
			NetworkPartitionID: s.NetworkPartitionID,
			MemberID:           s.MemberID,
			PartitionID:        s.PartitionID,
		})
		select {
		case e.wake <- struct{}{}:
		default:
		}
		return
	default:
		e.st.unknown++
		return
	}
	e.st.ingested++
	ms := e.touchLocked(s)
	w := &ms.win[m]
	if w.empty(e.sliding) {
		ms.ids = ids{s.ClusterID, s.ClusterInstanceID, s.NetworkPartitionID, s.PartitionID}
	}
	e.addLocked(w, s)

	ci := ms.ci
	if ci == nil || ci.dead || ci.key.cluster != s.ClusterID || ci.key.instance != s.ClusterInstanceID {
		ci = e.ciLocked(s)
		ms.ci = ci
	}
	w = &ci.win[m]
	if w.empty(e.sliding) {
		ci.np = s.NetworkPartitionID
	}
	e.addLocked(w, s)
}

func (e *Engine) addLocked(w *window, s *model.HealthSample) {
	var overflow bool
	if e.sliding {
		overflow = w.slideAdd(s.Value, s.Timestamp, e.limit, e.buckets, e.cur)
	} else {
		overflow = w.add(s.Value, s.Timestamp, e.limit)
	}
	if overflow {
		e.st.overflow++
	}
}

// touchLocked finds or creates the member of a health event and records that it was seen.
// An agent publishes its statistics together, so the member of the previous event is tried first.
func (e *Engine) touchLocked(s *model.HealthSample) *memberState {
	ms := e.lastMember
	if ms == nil || ms.id != s.MemberID {
		if ms = e.members[s.MemberID]; ms == nil {
			ms = e.newMemberLocked(s.MemberID)
			ms.ids = ids{intern(s.ClusterID), intern(s.ClusterInstanceID), intern(s.NetworkPartitionID), intern(s.PartitionID)}
		}
		e.lastMember = ms
	}
	if ms.tracked {
		ms.lastSeen = e.now
		ms.faulted = false
	}
	return ms
}

func (e *Engine) ciLocked(s *model.HealthSample) *ciState {
	ci := e.cis[ciKey{s.ClusterID, s.ClusterInstanceID}]
	if ci == nil {
		ci = &ciState{key: ciKey{intern(s.ClusterID), intern(s.ClusterInstanceID)}, np: intern(s.NetworkPartitionID)}
		e.cis[ci.key] = ci
	}
	return ci
}

// inFlightLocked feeds the in_flight_requests plans: the average per key(ci), the gradient and
// second derivative per key(np) (§3.2).
func (e *Engine) inFlightLocked(s *model.HealthSample) {
	ci := e.ciLocked(s)
	w := &ci.win[metricRIF]
	if w.empty(e.sliding) {
		ci.np = s.NetworkPartitionID
	}
	e.addLocked(w, s)

	np := e.nps[npKey{s.ClusterID, s.NetworkPartitionID}]
	if np == nil {
		np = &npState{key: npKey{intern(s.ClusterID), intern(s.NetworkPartitionID)}, instance: intern(s.ClusterInstanceID)}
		e.nps[np.key] = np
	}
	if np.win.empty(e.sliding) {
		np.instance = s.ClusterInstanceID
	}
	e.addLocked(&np.win, s)
}

// Summary kinds per metric: average, gradient, second derivative, at cluster and member level.
var (
	clusterKinds = [3][3]model.SummaryKind{
		metricLoad:   {model.AverageLoadAverage, model.GradientOfLoadAverage, model.SecondDerivativeOfLoadAverage},
		metricMemory: {model.AverageMemoryConsumption, model.GradientOfMemoryConsumption, model.SecondDerivativeOfMemoryConsumption},
		metricRIF:    {model.AverageRequestsInFlight, model.GradientOfRequestsInFlight, model.SecondDerivativeOfRequestsInFlight},
	}
	memberKinds = [2][3]model.SummaryKind{
		metricLoad:   {model.MemberAverageLoadAverage, model.MemberGradientOfLoadAverage, model.MemberSecondDerivativeOfLoadAverage},
		metricMemory: {model.MemberAverageMemoryConsumption, model.MemberGradientOfMemoryConsumption, model.MemberSecondDerivativeOfMemoryConsumption},
	}
)

// endLocked computes a window's batch and moves it on to the next one.
func (e *Engine) endLocked(w *window, next int) batch {
	if e.sliding {
		b := w.slideResult()
		w.slide(next)
		return b
	}
	b := w.result()
	w.reset()
	return b
}

// emitLocked appends the summaries of one batch: kinds[0] average (stamped now), kinds[1]
// gradient and kinds[2] second derivative, as selected by which.
func (e *Engine) emitLocked(b batch, kinds [3]model.SummaryKind, which [3]bool, tmpl model.Summary) {
	if !b.hasFirst {
		return
	}
	vals := [3]float64{b.avg, b.grad, b.second}
	for i, k := range kinds {
		if !which[i] || (i == 2 && !b.hasSD) {
			continue
		}
		if math.IsNaN(vals[i]) || math.IsInf(vals[i], 0) {
			e.st.unknown++ // finite inputs whose sum overflowed
			continue
		}
		e.out = append(e.out, tmpl)
		s := &e.out[len(e.out)-1]
		s.Kind = k
		s.Value = vals[i]
		if i == 0 {
			s.Timestamp = e.now
		}
	}
}

var (
	all3    = [3]bool{true, true, true}
	avgOnly = [3]bool{true, false, false}
	derivs  = [3]bool{false, true, true}
)

// tickLocked ends the current window (or slide) of every key, appends the summaries to e.out and
// releases the keys that no longer need state: members that left (or never were in) the topology
// and sent nothing in the window, and cluster keys that received nothing.
func (e *Engine) tickLocked(now int64) {
	e.now = now
	next := 0
	if e.sliding {
		next = (e.cur + 1) % e.buckets
	}
	// Backwards, so that a removal (the last member moves into its place) skips nobody.
	for i := len(e.all) - 1; i >= 0; i-- {
		ms := e.all[i]
		active := false
		for m := range ms.win {
			w := &ms.win[m]
			if w.empty(e.sliding) {
				continue
			}
			active = true
			e.emitLocked(e.endLocked(w, next), memberKinds[m], all3, model.Summary{
				MemberID: ms.id, ClusterID: ms.ids.cluster, ClusterInstanceID: ms.ids.instance,
				NetworkPartitionID: ms.ids.np,
			})
		}
		if !active && !ms.tracked {
			e.removeMemberLocked(ms)
		}
	}
	for k, ci := range e.cis {
		active := false
		for m := range ci.win {
			w := &ci.win[m]
			if w.empty(e.sliding) {
				continue
			}
			active = true
			which := all3
			if m == metricRIF {
				which = avgOnly // the in-flight derivatives are per key(np)
			}
			e.emitLocked(e.endLocked(w, next), clusterKinds[m], which, model.Summary{
				ClusterID: ci.key.cluster, ClusterInstanceID: ci.key.instance, NetworkPartitionID: ci.np,
			})
		}
		if !active {
			ci.dead = true
			delete(e.cis, k)
		}
	}
	for k, np := range e.nps {
		if np.win.empty(e.sliding) {
			delete(e.nps, k)
			continue
		}
		e.emitLocked(e.endLocked(&np.win, next), clusterKinds[metricRIF], derivs, model.Summary{
			ClusterID: np.key.cluster, ClusterInstanceID: np.instance, NetworkPartitionID: np.key.np,
		})
	}
	e.cur = next
	e.st.summaries += uint64(len(e.out))
}

// scanLocked raises a fault for every tracked member silent for longer than the timeout. The
// engine's time is coarse (refreshed once per scan), so a member's last event may be up to one
// interval later than its lastSeen: the check adds one interval so that no fault comes early.
func (e *Engine) scanLocked(now int64) {
	e.now = now
	if now < e.graceEnd {
		return
	}
	limit := e.opt.FaultTimeout.Milliseconds() + e.opt.FaultCheckInterval.Milliseconds()
	for _, ms := range e.watched {
		if !ms.faulted && now-ms.lastSeen > limit {
			ms.faulted = true
			e.st.faults++
			e.out = append(e.out, faultOf(ms))
		}
	}
}

func faultOf(ms *memberState) model.Summary {
	return model.Summary{
		Kind:               model.MemberFault,
		ClusterID:          ms.ids.cluster,
		ClusterInstanceID:  ms.ids.instance,
		NetworkPartitionID: ms.ids.np,
		MemberID:           ms.id,
		PartitionID:        ms.ids.partition,
	}
}

// MemberActivated starts watching a member for silence, as Stratos does on MemberActivatedEvent:
// if it is already watched, its last-seen time is kept.
func (e *Engine) MemberActivated(m Member) {
	now := e.opt.Clock.Now().UnixMilli()
	e.mu.Lock()
	e.activateLocked(m, now)
	e.mu.Unlock()
}

func (e *Engine) activateLocked(m Member, now int64) {
	ms := e.members[m.MemberID]
	if ms == nil {
		ms = e.newMemberLocked(m.MemberID)
	}
	ms.ids = ids{intern(m.ClusterID), intern(m.ClusterInstanceID), intern(m.NetworkPartitionID), intern(m.PartitionID)}
	if !ms.tracked {
		ms.tracked = true
		ms.watchIdx = len(e.watched)
		e.watched = append(e.watched, ms)
		ms.faulted = false
		ms.lastSeen = now
	}
}

// newMemberLocked adds the state of a member not known yet.
func (e *Engine) newMemberLocked(id string) *memberState {
	ms := &memberState{id: intern(id), allIdx: len(e.all)}
	e.members[ms.id] = ms
	e.all = append(e.all, ms)
	return ms
}

// removeMemberLocked forgets a member's state.
func (e *Engine) removeMemberLocked(ms *memberState) {
	delete(e.members, ms.id)
	if e.lastMember == ms {
		e.lastMember = nil
	}
	e.all = swapRemove(e.all, ms, func(m *memberState) *int { return &m.allIdx })
}

// dropLocked releases a member's state and stops watching it.
func (e *Engine) dropLocked(ms *memberState) {
	e.removeMemberLocked(ms)
	if ms.tracked {
		e.watched = swapRemove(e.watched, ms, func(m *memberState) *int { return &m.watchIdx })
		ms.tracked = false
	}
}

// swapRemove takes ms out of s, whose members know their position through idx: the last one
// takes its place.
func swapRemove(s []*memberState, ms *memberState, idx func(*memberState) *int) []*memberState {
	i, last := *idx(ms), s[len(s)-1]
	s[i], *idx(last) = last, i
	s[len(s)-1] = nil
	return s[:len(s)-1]
}

// MemberTerminated stops watching a member and releases its state.
func (e *Engine) MemberTerminated(memberID string) {
	e.mu.Lock()
	if ms := e.members[memberID]; ms != nil {
		e.dropLocked(ms)
	}
	e.mu.Unlock()
}

// ClusterRemoved releases the state of a cluster: its members and its cluster keys.
func (e *Engine) ClusterRemoved(clusterID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ms := range e.members {
		if ms.ids.cluster == clusterID {
			e.dropLocked(ms)
		}
	}
	for k, ci := range e.cis {
		if k.cluster == clusterID {
			ci.dead = true
			delete(e.cis, k)
		}
	}
	for k := range e.nps {
		if k.cluster == clusterID {
			delete(e.nps, k)
		}
	}
}

// SeedTopology reconciles the watched members with a complete topology that lists every member
// present. Active members not watched yet are watched from now on (Stratos seeds them with now);
// watched members keep their last-seen time; watched members missing from the topology are
// released (their MemberTerminatedEvent was missed).
func (e *Engine) SeedTopology(members []Member) {
	now := e.opt.Clock.Now().UnixMilli()
	present := make(map[string]struct{}, len(members))
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range members {
		present[m.MemberID] = struct{}{}
		if m.Active {
			e.activateLocked(m, now)
		}
	}
	for id, ms := range e.members {
		if _, ok := present[id]; !ok && ms.tracked {
			e.dropLocked(ms)
		}
	}
}

// Run drives the window ends and the fault scans off the clock, delivers summaries to the
// subscribers, the Publisher and the Recorder, and blocks until ctx ends. It returns after its
// goroutines exit; it starts with the start-up grace.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer e.running.Store(false)
	clk := e.opt.Clock
	e.mu.Lock()
	e.now = clk.Now().UnixMilli()
	e.graceEnd = e.now + e.opt.StartupGrace.Milliseconds()
	e.mu.Unlock()

	var wg sync.WaitGroup
	if e.opt.Publisher != nil {
		wg.Go(func() { e.publishLoop(ctx) })
	}
	if e.opt.Recorder != nil {
		wg.Go(func() { e.historyLoop(ctx) })
	}
	period := e.opt.Window
	if e.sliding {
		period = e.opt.Sliding
	}
	win := clk.NewTicker(period)
	scan := clk.NewTicker(e.opt.FaultCheckInterval)
	defer func() {
		win.Stop()
		scan.Stop()
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			e.deliverFaults()
			return nil
		case <-win.C():
			now := clk.Now().UnixMilli()
			e.mu.Lock()
			e.tickLocked(now)
			e.mu.Unlock()
			e.deliver()
		case <-scan.C():
			now := clk.Now().UnixMilli()
			e.mu.Lock()
			e.scanLocked(now)
			e.mu.Unlock()
			e.deliver()
		case <-e.wake:
			e.deliverFaults()
		}
	}
}

// deliverFaults delivers the ports_not_open faults that ingest queued.
func (e *Engine) deliverFaults() {
	e.mu.Lock()
	e.out = append(e.out, e.faults...)
	clear(e.faults)
	e.faults = e.faults[:0]
	e.mu.Unlock()
	e.deliver()
}

// deliver hands e.out to the subscribers, the publish queue and the history queue, then empties
// it. Run goroutine only.
func (e *Engine) deliver() {
	if len(e.out) == 0 {
		return
	}
	if subs := e.subs.Load(); subs != nil {
		for _, s := range e.out {
			for _, f := range *subs {
				f(s)
			}
		}
	}
	if e.opt.Publisher != nil {
		e.pub.push(e.out...)
	}
	if e.opt.Recorder != nil {
		e.hist.push(e.out...)
	}
	clear(e.out)
	e.out = e.out[:0]
}

// publishLoop sends queued summaries to the Publisher until ctx ends.
func (e *Engine) publishLoop(ctx context.Context) {
	var batch []model.Summary
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.pub.ready:
		}
		batch = e.pub.take(batch)
		var failed int
		var first error
		for _, s := range batch {
			if err := e.opt.Publisher.Publish(ctx, s); err != nil {
				failed++
				if first == nil {
					first = err
				}
			}
		}
		if failed > 0 {
			e.errs.publish.Add(uint64(failed))
			e.log.Warn("cannot publish the summaries", "summaries", failed, "err", first)
		}
	}
}
