package autoscaler

import (
	"cmp"
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// The replay's drive: a fresh autoscaler on a fake clock, the inputs applied at their times, the
// rounds run at the live rounds' times, and the starter and victims that make the replay follow
// the recorded membership (see Replay).

// replayDriver runs one replay.
type replayDriver struct {
	a        *Autoscaler
	clock    *clock.Manual
	st       *replayStarter
	rec      *collectRecorder
	in       *instance
	spec     ClusterSpec
	start    time.Time
	recorded []model.Decision
	victims  []*replayVictim
	// liveRounds are the times of the recorded rounds not yet passed: a replayed round runs at the
	// time of the live round it replays (see alignedRound), so that its decision, the samples of
	// its stabilization windows and the next monitor tick are stamped as live.
	liveRounds []liveRound
	align      time.Duration
	// late is how much later than due a replayed tick may take the time of a recorded tick: a
	// live monitor timer fires late on a loaded host (450 ms seen at a 5 s interval).
	late time.Duration
}

// liveRound is a recorded round: its time, and whether the monitor tick triggered it.
type liveRound struct {
	at   time.Time
	tick bool
}

// newReplayDriver builds the autoscaler with the instance registered and its monitor tick in the
// phase of the first recorded tick after the start.
func newReplayDriver(set *policies.Set, spec ClusterSpec, o ReplayOptions, start time.Time, recorded []model.Decision,
	life []model.LifecycleRecord) (*replayDriver, error) {
	clk := clock.NewManual(start)
	st := &replayStarter{claims: replayClaims(life, spec), window: o.ClaimWindow, tolerance: o.MatchTolerance, clock: clk}
	for _, d := range recorded {
		if d.Delta > 0 {
			st.attempts = append(st.attempts, &replayAttempt{at: d.Time, left: d.Delta})
		}
	}
	rec := &collectRecorder{}
	a, err := New(Options{Policies: setSource{set}, Starter: st, Recorder: rec, Clock: clk,
		MonitorInterval: o.MonitorInterval, Settle: o.Settle})
	if err != nil {
		return nil, err
	}
	victims := recordedVictims(recorded)
	a.followVictim = followVictims(victims, o.MatchTolerance)
	st.known = func(id string) bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.members[id] != nil
	}
	if err := a.RegisterCluster(spec); err != nil {
		return nil, err
	}

	d := &replayDriver{a: a, clock: clk, st: st, rec: rec, spec: spec, start: start, recorded: recorded, victims: victims,
		align: min(o.MatchTolerance, cmp.Or(o.Settle, DefaultSettle)/2)}
	d.late = max(d.align, cmp.Or(o.MonitorInterval, DefaultMonitorInterval)/2)
	for _, r := range recorded {
		t, err := DecodeTrace(r)
		d.liveRounds = append(d.liveRounds, liveRound{at: r.Time, tick: err == nil && t.Trigger == triggerTick})
	}
	a.mu.Lock()
	d.in = a.clusters[spec.ClusterID].instances[spec.InstanceID]
	// The phase of the monitor tick: the first recorded tick after the start.
	for _, r := range recorded {
		if t, err := DecodeTrace(r); err == nil && t.Trigger == triggerTick && r.Time.After(start) {
			d.in.nextTick = r.Time
			break
		}
	}
	a.mu.Unlock()
	return d, nil
}

// apply hands one input to the autoscaler at its time.
func (d *replayDriver) apply(x replayInput) {
	a := d.a
	a.mu.Lock()
	if x.sum != nil {
		s := *x.sum
		if s.ClusterInstanceID == "" {
			s.ClusterInstanceID = d.spec.InstanceID
		}
		if s.NetworkPartitionID == "" {
			s.NetworkPartitionID = d.spec.NetworkPartition
		}
		a.summaryLocked(&s, x.at)
	} else {
		a.eventLocked(x.ev, x.at)
	}
	a.mu.Unlock()
}

// evaluateUntil runs every round due before t (at t too when inclusive), at its due time or the
// live round's.
func (d *replayDriver) evaluateUntil(ctx context.Context, t time.Time, inclusive bool) error {
	a, in := d.a, d.in
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		a.mu.Lock()
		ok := len(a.queue) > 0
		var due time.Time
		if ok {
			due = a.queue[0].due
		}
		a.mu.Unlock()
		if !ok {
			return nil
		}
		late := d.align
		if due.Equal(in.nextTick) {
			late = d.late
		}
		at, k := alignedRound(d.liveRounds, due, d.clock.Now(), d.align, late)
		if at.After(t) || (!inclusive && at.Equal(t)) {
			return nil
		}
		if at.Before(due) {
			a.mu.Lock()
			if due.Equal(in.nextTick) {
				in.nextTick = at
			}
			a.queue.reschedule(in, at)
			a.mu.Unlock()
		}
		if at.Before(d.clock.Now()) {
			at = d.clock.Now()
		}
		d.clock.Set(at)
		a.Evaluate(ctx)
		d.liveRounds = d.liveRounds[k:]
		for _, id := range d.st.takeTerminated() {
			a.mu.Lock()
			if m := a.members[id]; m != nil {
				a.eventLocked(&model.MemberTerminatedEvent{ClusterID: d.spec.ClusterID, ClusterInstanceID: d.spec.InstanceID,
					PartitionID: m.in.parts[m.part].id, MemberID: id}, at)
			}
			a.mu.Unlock()
		}
	}
}

// drive applies the inputs in order, running the rounds due between them, up to to (zero: just
// after the last input or recorded decision).
func (d *replayDriver) drive(ctx context.Context, ins []replayInput, to time.Time) error {
	a, start, recorded := d.a, d.start, d.recorded
	// Before the start: rebuild the member lists, deciding nothing, and the metric families when
	// the first recorded decision found them fresh (otherwise the monitor did not exist yet, or
	// had used them already).
	fresh := false
	if len(recorded) > 0 {
		if t, err := DecodeTrace(recorded[0]); err == nil {
			fresh = t.ScalingRun
		}
	}
	k := 0
	for ; k < len(ins) && ins[k].at.Before(start); k++ {
		if ins[k].sum == nil || fresh {
			d.apply(ins[k])
		}
	}
	d.clock.Set(start)
	a.mu.Lock()
	a.queue.reschedule(d.in, start)
	a.mu.Unlock()
	for ; k < len(ins); k++ {
		// A round due at the same time as an input runs first: a start then claims a member
		// whose creation was stored within the same millisecond.
		if err := d.evaluateUntil(ctx, ins[k].at, true); err != nil {
			return err
		}
		d.clock.Set(ins[k].at)
		d.apply(ins[k])
	}
	end := to
	if end.IsZero() {
		end = d.clock.Now()
		if len(recorded) > 0 {
			end = maxTime(end, recorded[len(recorded)-1].Time)
		}
		end = end.Add(time.Millisecond)
	}
	return d.evaluateUntil(ctx, end, false)
}

// alignedRound is the time a replayed round due at due runs: the time of the next live round
// within align before due and late after it and not before now (the last input applied), or
// due. The live autoscaler reads its clock a little after the round's timer fired and stamps the
// next monitor tick from that, so its rounds drift later, tick by tick, than a period from the
// first; a replay on the exact period saw other samples in a stabilization window than the live
// round did, and ran a tick before the summaries the live tick had used. Beyond align, only a
// recorded tick with no other round before it is taken: a timer that fired late on a loaded host.
// It returns the time and how many of live (sorted) the round has passed.
func alignedRound(live []liveRound, due, now time.Time, align, late time.Duration) (time.Time, int) {
	k := 0
	for k < len(live) && live[k].at.Before(due.Add(-align)) {
		k++
	}
	if k < len(live) && !live[k].at.Before(now) &&
		(!live[k].at.After(due.Add(align)) || live[k].tick && !live[k].at.After(due.Add(late))) {
		return live[k].at, k + 1
	}
	return due, k
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// replayAttempt is a recorded decision that started members: left of its starts have not been
// matched by a replayed start yet.
type replayAttempt struct {
	at   time.Time
	left int
}

// replayVictim is a member a recorded scale-down terminated, as its trace names it.
type replayVictim struct {
	at   time.Time
	id   string
	used bool
}

// recordedVictims returns the victims of the recorded scale-downs.
func recordedVictims(recorded []model.Decision) []*replayVictim {
	var vs []*replayVictim
	for _, d := range recorded {
		if d.Delta >= 0 {
			continue
		}
		t, err := DecodeTrace(d)
		if err != nil {
			continue
		}
		for _, s := range t.Steps {
			if s.Check == "scale" && s.Delta < 0 && s.Member != "" {
				vs = append(vs, &replayVictim{at: d.Time, id: s.Member})
			}
		}
	}
	return vs
}

// recordedVictimLocked is, in a replay, the member the live autoscaler terminated in its
// scale-down at about now, when it is a candidate here too (see Replay); else nil.
func (a *Autoscaler) recordedVictimLocked(in *instance, now time.Time) *member {
	if a.followVictim == nil {
		return nil
	}
	var found *member
	a.followVictim(now, func(id string) bool {
		m := a.members[id]
		if m == nil || m.in != in || !m.hasStats || (m.list != listPending && m.list != listActive) {
			return false
		}
		found = m
		return true
	})
	return found
}

// followVictims is the Autoscaler.followVictim of a replay: each recorded victim is offered once
// to a replayed scale-down within tolerance of the recorded one.
func followVictims(vs []*replayVictim, tolerance time.Duration) func(time.Time, func(string) bool) {
	return func(now time.Time, take func(string) bool) {
		for _, v := range vs {
			if !v.used && now.Sub(v.at).Abs() <= tolerance && take(v.id) {
				v.used = true
				return
			}
		}
	}
}

// errReplayStartFailed answers a replayed start that the live autoscaler also made and that
// produced no member: the controller refused it.
var errReplayStartFailed = errors.New("autoscaler: replay: the recorded start created no member")

// replayStarter answers the replayed policy's starts with the members the controller really
// created (see Replay). A start without such a member fails when the live autoscaler made the
// same start then (the controller refused it), else it gets a phantom member. The termination of
// a phantom becomes its MemberTerminatedEvent.
type replayStarter struct {
	mu         sync.Mutex
	claims     []*replayClaim
	attempts   []*replayAttempt
	window     time.Duration
	tolerance  time.Duration
	clock      *clock.Manual
	known      func(memberID string) bool
	phantoms   map[string]bool
	n          int
	terminated []string
}

func (s *replayStarter) StartMember(_ context.Context, req StartRequest) (model.Member, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	m := model.Member{ClusterID: req.ClusterID, ClusterInstanceID: req.ClusterInstanceID,
		NetworkPartitionID: req.NetworkPartitionID, PartitionID: req.PartitionID}
	recorded := false
	for _, a := range s.attempts {
		if a.left > 0 && now.Sub(a.at).Abs() <= s.tolerance {
			a.left--
			recorded = true
			break
		}
	}
	for _, c := range s.claims {
		if c.taken || c.partition != req.PartitionID || c.at.Before(now.Add(-s.tolerance)) || c.at.Sub(now) > s.window ||
			(s.known != nil && s.known(c.id)) {
			continue
		}
		c.taken = true
		m.MemberID = c.id
		return m, nil
	}
	if recorded {
		return model.Member{}, errReplayStartFailed
	}
	s.n++
	m.MemberID = req.ClusterID + "-replay-" + strconv.Itoa(s.n)
	if s.phantoms == nil {
		s.phantoms = map[string]bool{}
	}
	s.phantoms[m.MemberID] = true
	return m, nil
}

func (s *replayStarter) TerminateMember(_ context.Context, id string, _ bool) error {
	s.mu.Lock()
	if s.phantoms[id] {
		delete(s.phantoms, id)
		s.terminated = append(s.terminated, id)
	}
	s.mu.Unlock()
	return nil
}

func (s *replayStarter) takeTerminated() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.terminated
	s.terminated = nil
	return t
}
