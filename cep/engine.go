package cep

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

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
	Clock         clock.Clock // default: the time package; window ends, fault scans and the start-up grace read it
	Publisher     Publisher   // nil: summaries go to subscribers and history only
	// Heard, when set, says whether a summary published now would reach anyone (the embedded
	// broker's bus.Broker.Subscribed for model.SummaryTopic). The Run goroutine asks it before it
	// queues a tick's summaries for the Publisher, and the publish loop again before it sends a
	// batch; when nobody listens the summaries are dropped, counted in Stats.PublishUnheard: at
	// 100 000 members a minute's 600 000 summaries cost the bus a write, a read and an
	// acknowledgement each, for a broker that would discard them. Nil: always publish (an
	// external broker, whose subscribers the engine cannot see).
	Heard    func() bool
	Recorder Recorder     // nil: nothing is recorded
	Logger   *slog.Logger // nil: discard
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

// memberState is the state of one member: its two windows (member_id plans of §3.2) and its
// fault-detection entry.
type memberState struct {
	id       string
	ids      *ids      // never nil; replaced, not changed (pending.go)
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
	ids  *ids   // the names of the last window end's summaries (pending.go)
	win  [3]window
	dead bool // removed from the engine: members holding it look it up again
}

// npKey is key(np) of §3.2: cluster and network partition.
type npKey struct{ cluster, np string }

// npState is the state of one key(np): the in-flight gradient and second derivative.
type npState struct {
	key      npKey
	instance string // cluster instance of the batch's first event
	ids      *ids   // the names of the last window end's summaries (pending.go)
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
	faults     []pending // ports_not_open faults waiting for the Run goroutine
	st         counters

	wake chan struct{} // faults are waiting

	out     []pending // summaries of the current tick; Run goroutine only
	outHint int       // len(out) at the last window end, the size of the next one's buffer
	rawWake chan struct{}
	logs    *queue[model.LogEntry]
	hist    *queue[pending]
	pub     *queue[pending]
	errs    struct{ history, publish atomic.Uint64 }
	unheard atomic.Uint64 // summaries not published: nobody listened (Options.Heard)
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
		hist:    newWeighedQueue(0, weight, firstOf),
		pub:     newWeighedQueue(opt.PublishBuffer, weight, firstOf),
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

// deliver hands e.out to the subscribers, the publish queue and the history queue, then empties
// it. Run goroutine only.
func (e *Engine) deliver() {
	if len(e.out) == 0 {
		return
	}
	if subs := e.subs.Load(); subs != nil {
		for i := range e.out {
			for s := range e.out[i].summaries {
				for _, f := range *subs {
					f(s)
				}
			}
		}
	}
	if e.opt.Publisher != nil {
		if e.opt.Heard == nil || e.opt.Heard() {
			e.pub.push(e.out...)
		} else {
			e.unheard.Add(uint64(weight(e.out))) // not even queued: nobody would hear them
		}
	}
	if e.opt.Recorder != nil {
		// The history queue takes e.out itself, and e.out continues in the queue's emptied
		// slice: a tick's summaries are not copied (9.6 MB at 100 000 members).
		e.out = released(e.hist.handOver(e.out))
		return
	}
	e.out = released(e.out)
}

// publishLoop sends queued summaries to the Publisher until ctx ends.
func (e *Engine) publishLoop(ctx context.Context) {
	var batch []pending
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.pub.ready:
		}
		batch = e.pub.take(batch)
		if e.opt.Heard != nil && len(batch) > 0 && !e.opt.Heard() {
			e.unheard.Add(uint64(weight(batch)))
			batch = released(batch)
			continue
		}
		var failed int
		var first error
		for i := range batch {
			for s := range batch[i].summaries {
				if err := e.opt.Publisher.Publish(ctx, s); err != nil {
					failed++
					if first == nil {
						first = err
					}
				}
			}
		}
		batch = released(batch)
		if failed > 0 {
			e.errs.publish.Add(uint64(failed))
			e.log.Warn("cannot publish the summaries", "summaries", failed, "err", first)
		}
	}
}
