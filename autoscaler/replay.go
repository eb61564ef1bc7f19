package autoscaler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// Replay runs an autoscaling policy over a cluster instance's recorded history (`strata policy
// replay`): the CEP summaries and lifecycle records history kept are fed, at the times they were
// stored, to a fresh autoscaler on a fake clock, and its decisions are set beside the decisions the
// live autoscaler recorded.
//
// The replay follows the recorded membership: members come, activate and go when the lifecycle
// records say so, whatever the replayed policy decides. A start the policy decides takes the id of
// the next member the controller really created in that partition within ReplayOptions.ClaimWindow
// (so replaying the enforced policy rebuilds exactly the member lists the live autoscaler had);
// a start the live autoscaler also made without a member appearing fails, as it did live; any
// other start reality has no member for becomes a phantom member that stays pending (it counts towards
// non-terminated, as an unanswered start does live) until the pending expiry makes it obsolete and
// it is terminated. Likewise a scale-down the policy decides within MatchTolerance of a recorded
// one terminates the member the live autoscaler terminated (its trace names it) when that member
// is a candidate: among members of near-equal load the victim turns on summaries arriving
// milliseconds apart, and reality went on without that member. The decision itself (whether,
// when, how many) stays the replayed policy's; the victim's records within MatchTolerance after
// the recorded scale-down are held back as a started member's are. The load is the recorded
// load: the replay cannot know how a different member count would have changed it. So the replay answers "given what happened, what would this policy
// have decided, and when", exactly for the enforced policy and as a first-order estimate for a
// candidate.
//
// Times: a summary is replayed at its stored timestamp (the window's end for averages, history's
// receipt for gradients and second derivatives), which trails the live autoscaler's receipt by
// milliseconds, so replayed rounds come a little later than the live ones. The lifecycle records
// of a member created within MatchTolerance after a recorded start are therefore held back until
// MatchTolerance after it, so that the replayed round still makes that start. A replayed round
// runs at the time of the live round it replays when one was recorded within half the settle time
// of its due time: the live rounds drift later than the monitor period, and the samples of a
// stabilization window and the next tick are stamped from the round's time.
//
// What the replay cannot see: member state that changed before the replayed range without a
// lifecycle record (a scale-down victim moved to termination pending by the autoscaler itself),
// and the phase of the monitor tick, which is taken from the first recorded tick in the range.

// DefaultClaimWindow is how long after a start decision a member the controller created is taken
// as the answer to that start.
const DefaultClaimWindow = 30 * time.Second

// DefaultMatchTolerance is how far apart a recorded and a replayed decision may be and still be
// put on one row of the timeline.
const DefaultMatchTolerance = time.Second

// ReplayHistory is the recorded history of one cluster, as LoadReplayHistory reads it.
type ReplayHistory struct {
	// Summaries with Timestamp set (history stamps the ones the CEP sends without one on receipt).
	Summaries []model.Summary
	// Lifecycle records of the cluster's members and instances, also from before the range: they
	// rebuild the member lists at its start.
	Lifecycle []model.LifecycleRecord
	// Decisions the live autoscaler recorded for the cluster.
	Decisions []model.Decision
}

// ReplayOptions say what to replay.
type ReplayOptions struct {
	// Policies holds the policy to replay and the deployment policy (and governance) it runs with.
	Policies *policies.Set
	// Policy is the autoscaling policy to replay; empty replays the recorded (enforced) one. A
	// dry-run or shadow policy is replayed as if it were enforced.
	Policy string
	// Cluster is the cluster instance. Only ClusterID is required: the instance, network
	// partition, min, max and deployment policy default to those of the first recorded decision,
	// the service and application to those of the lifecycle records.
	Cluster ClusterSpec
	// From and To bound the replay: [From, To). Zero To means the end of the history.
	From, To time.Time
	// The live autoscaler's timing; zero means the defaults of Options.
	MonitorInterval time.Duration
	Settle          time.Duration
	// ClaimWindow: see DefaultClaimWindow. MatchTolerance: see DefaultMatchTolerance.
	ClaimWindow    time.Duration
	MatchTolerance time.Duration
}

// ReplayResult is the outcome of a replay.
type ReplayResult struct {
	Cluster        ClusterSpec
	Policy         string // the replayed policy
	RecordedPolicy string // the policy the recorded decisions came from
	From, To       time.Time
	// Recorded are the live autoscaler's decisions in the range (shadow decisions left out);
	// Replayed are the replayed policy's. Both oldest first, with their traces.
	Recorded []model.Decision
	Replayed []model.Decision
	// Timeline pairs them by time.
	Timeline []ReplayRow
	// Differences counts the rows that differ.
	Differences int
}

// ReplayRow is one evaluation: the recorded decision, the replayed one, or both when they were
// made within MatchTolerance of each other.
type ReplayRow struct {
	Time     time.Time       `json:"time"`
	Recorded *ReplayDecision `json:"recorded,omitempty"`
	Replayed *ReplayDecision `json:"replayed,omitempty"`
	Differs  bool            `json:"differs"`
}

// ReplayDecision is the part of a decision a timeline shows.
type ReplayDecision struct {
	Time          time.Time `json:"time"`
	Action        string    `json:"action"`
	Delta         int       `json:"delta"`
	Active        int       `json:"active"`
	NonTerminated int       `json:"nonTerminated"`
	Required      int       `json:"required"`
	Trigger       string    `json:"trigger,omitempty"`
	Reason        string    `json:"reason"`
}

func replayDecisionOf(d model.Decision) *ReplayDecision {
	rd := &ReplayDecision{Time: d.Time, Action: d.Action, Delta: d.Delta, Active: d.Active,
		NonTerminated: d.NonTerminated, Required: d.Required, Reason: d.Reason}
	if t, err := DecodeTrace(d); err == nil {
		rd.Trigger = t.Trigger
	}
	return rd
}

// Acted reports whether the decision started or terminated members.
func (d *ReplayDecision) Acted() bool { return d != nil && d.Delta != 0 }

// Replay runs the policy over the history; see the comment at the top of replay.go.
func Replay(ctx context.Context, o ReplayOptions, h ReplayHistory) (*ReplayResult, error) {
	if o.Policies == nil {
		return nil, fmt.Errorf("%w: replay: no policies", ErrInvalid)
	}
	if o.Cluster.ClusterID == "" {
		return nil, fmt.Errorf("%w: replay: no cluster", ErrInvalid)
	}
	if o.ClaimWindow <= 0 {
		o.ClaimWindow = DefaultClaimWindow
	}
	if o.MatchTolerance <= 0 {
		o.MatchTolerance = DefaultMatchTolerance
	}
	inRange := func(t time.Time) bool { return !t.Before(o.From) && (o.To.IsZero() || t.Before(o.To)) }

	// The recorded decisions of the cluster (instance), enforced or dry-run.
	var recorded []model.Decision
	for _, d := range h.Decisions {
		if d.ClusterID != o.Cluster.ClusterID || d.Mode == string(policies.ModeShadow) || !inRange(d.Time) ||
			(o.Cluster.InstanceID != "" && d.ClusterInstanceID != o.Cluster.InstanceID) {
			continue
		}
		recorded = append(recorded, d)
	}
	slices.SortStableFunc(recorded, func(a, b model.Decision) int { return a.Time.Compare(b.Time) })
	spec, recPolicy, err := replaySpec(o.Cluster, recorded, h.Lifecycle)
	if err != nil {
		return nil, err
	}
	recorded = slices.DeleteFunc(recorded, func(d model.Decision) bool { return d.ClusterInstanceID != spec.InstanceID })
	polID := cmp.Or(o.Policy, recPolicy, spec.AutoscalePolicy)
	if polID == "" {
		return nil, fmt.Errorf("%w: replay %s: no policy given and none recorded", ErrInvalid, spec.ClusterID)
	}
	pol, ok := o.Policies.Autoscaling(polID)
	if !ok {
		return nil, fmt.Errorf("%w: replay: autoscaling policy %q", ErrNotFound, polID)
	}
	if _, ok := o.Policies.Deployment(spec.DeploymentPolicy); !ok {
		return nil, fmt.Errorf("%w: replay: deployment policy %q", ErrNotFound, spec.DeploymentPolicy)
	}
	set := o.Policies
	if pol.Mode != policies.ModeEnforce {
		enforced := *pol
		enforced.Mode, enforced.ShadowOf = policies.ModeEnforce, ""
		// Built afresh: With would keep the old policy, whose source is the same.
		ps := []policies.Policy{&enforced}
		for _, p := range set.All() {
			if p.Ref() != enforced.Ref() {
				ps = append(ps, p)
			}
		}
		if set, err = policies.Empty().With(ctx, ps...); err != nil {
			return nil, fmt.Errorf("replay policy %s as enforced: %w", polID, err)
		}
	}
	spec.AutoscalePolicy = polID

	// The start: the first recorded decision in the range (the live monitor's registration when
	// the range covers it), else From.
	start := o.From
	if len(recorded) > 0 {
		start = recorded[0].Time
	}
	if start.IsZero() {
		return nil, fmt.Errorf("%w: replay %s: no start time and no recorded decision", ErrInvalid, spec.ClusterID)
	}

	clock := &manualClock{now: start}
	st := &replayStarter{claims: replayClaims(h.Lifecycle, spec), window: o.ClaimWindow, tolerance: o.MatchTolerance, clock: clock}
	for _, d := range recorded {
		if d.Delta > 0 {
			st.attempts = append(st.attempts, &replayAttempt{at: d.Time, left: d.Delta})
		}
	}
	rec := &collectRecorder{}
	a, err := New(Options{Policies: setSource{set}, Starter: st, Recorder: rec, Clock: clock,
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

	// The inputs in time order: lifecycle records first at equal times, as the controller's
	// events precede the load they cause.
	type input struct {
		at  time.Time
		ev  model.Event
		sum *model.Summary
	}
	var ins []input
	for _, r := range h.Lifecycle {
		if r.ClusterID != spec.ClusterID || (!o.To.IsZero() && !r.Time.Before(o.To)) {
			continue
		}
		if ev := eventOfRecord(r); ev != nil {
			ins = append(ins, input{at: r.Time, ev: ev})
		}
	}
	for i := range h.Summaries {
		s := &h.Summaries[i]
		at := time.UnixMilli(s.Timestamp).UTC()
		if s.ClusterID != spec.ClusterID || at.Before(o.From) || (!o.To.IsZero() && !at.Before(o.To)) {
			continue
		}
		if s.ClusterInstanceID != "" && s.ClusterInstanceID != spec.InstanceID && s.ClusterInstanceID != model.NotDefined {
			continue
		}
		ins = append(ins, input{at: at, sum: s})
	}
	// Records that follow a recorded decision by less than MatchTolerance are held back until
	// MatchTolerance after it: the replayed round is stamped from stored summaries, a few
	// milliseconds after the live one, and must see the cluster as the live round did. These are
	// the records of a member the controller created for a recorded start (the round must not see
	// the member it is about to start as already there) and those of a recorded scale-down's
	// victim (the round must still find the victim active).
	type span struct{ from, until time.Time }
	held := map[string][]span{}
	for _, a := range st.attempts {
		for _, c := range st.claims {
			if !c.at.Before(a.at) && c.at.Sub(a.at) <= o.MatchTolerance {
				held[c.id] = append(held[c.id], span{a.at, a.at.Add(o.MatchTolerance)})
			}
		}
	}
	for _, v := range victims {
		held[v.id] = append(held[v.id], span{v.at, v.at.Add(o.MatchTolerance)})
	}
	for i := range ins {
		if ins[i].ev == nil {
			continue
		}
		for _, sp := range held[memberOf(ins[i].ev)] {
			if !ins[i].at.Before(sp.from) && ins[i].at.Before(sp.until) {
				ins[i].at = sp.until
			}
		}
	}
	slices.SortStableFunc(ins, func(x, y input) int {
		if c := x.at.Compare(y.at); c != 0 {
			return c
		}
		return cmp.Compare(boolInt(x.ev == nil), boolInt(y.ev == nil))
	})

	a.mu.Lock()
	in := a.clusters[spec.ClusterID].instances[spec.InstanceID]
	// The phase of the monitor tick: the first recorded tick after the start.
	for _, d := range recorded {
		if t, err := DecodeTrace(d); err == nil && t.Trigger == triggerTick && d.Time.After(start) {
			in.nextTick = d.Time
			break
		}
	}
	a.mu.Unlock()

	apply := func(x input) {
		a.mu.Lock()
		if x.sum != nil {
			s := *x.sum
			if s.ClusterInstanceID == "" {
				s.ClusterInstanceID = spec.InstanceID
			}
			if s.NetworkPartitionID == "" {
				s.NetworkPartitionID = spec.NetworkPartition
			}
			a.summaryLocked(&s, x.at)
		} else {
			a.eventLocked(x.ev, x.at)
		}
		a.mu.Unlock()
	}
	// The live rounds' times: a replayed round runs at the time of the live round it replays (see
	// alignedRound), so that its decision, the samples of its stabilization windows and the next
	// monitor tick are stamped as live.
	liveRounds := make([]time.Time, len(recorded))
	for i, d := range recorded {
		liveRounds[i] = d.Time
	}
	align := min(o.MatchTolerance, cmp.Or(o.Settle, DefaultSettle)/2)
	// evaluateUntil runs every round due before t (at t too when inclusive), at its due time or
	// the live round's.
	evaluateUntil := func(t time.Time, inclusive bool) error {
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
			at, k := alignedRound(liveRounds, due, clock.Now(), align)
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
			if at.Before(clock.Now()) {
				at = clock.Now()
			}
			clock.set(at)
			a.Evaluate(ctx)
			liveRounds = liveRounds[k:]
			for _, id := range st.takeTerminated() {
				a.mu.Lock()
				if m := a.members[id]; m != nil {
					a.eventLocked(&model.MemberTerminatedEvent{ClusterID: spec.ClusterID, ClusterInstanceID: spec.InstanceID,
						PartitionID: m.in.parts[m.part].id, MemberID: id}, at)
				}
				a.mu.Unlock()
			}
		}
	}
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
			apply(ins[k])
		}
	}
	clock.set(start)
	a.mu.Lock()
	a.queue.reschedule(in, start)
	a.mu.Unlock()
	for ; k < len(ins); k++ {
		// A round due at the same time as an input runs first: a start then claims a member
		// whose creation was stored within the same millisecond.
		if err := evaluateUntil(ins[k].at, true); err != nil {
			return nil, err
		}
		clock.set(ins[k].at)
		apply(ins[k])
	}
	end := o.To
	if end.IsZero() {
		end = clock.Now()
		if len(recorded) > 0 {
			end = maxTime(end, recorded[len(recorded)-1].Time)
		}
		end = end.Add(time.Millisecond)
	}
	if err := evaluateUntil(end, false); err != nil {
		return nil, err
	}

	var replayed []model.Decision
	for _, d := range rec.ds {
		if d.Policy == polID && d.Mode != string(policies.ModeShadow) && d.ClusterInstanceID == spec.InstanceID {
			replayed = append(replayed, d)
		}
	}
	res := &ReplayResult{Cluster: spec, Policy: polID, RecordedPolicy: recPolicy, From: start, To: o.To,
		Recorded: recorded, Replayed: replayed}
	res.Timeline, res.Differences = timeline(recorded, replayed, o.MatchTolerance)
	return res, nil
}

// alignedRound is the time a replayed round due at due runs: the time of the next live round
// within align of due and not before now (the last input applied), or due. The live autoscaler
// reads its clock a little after the round's timer fired and stamps the next monitor tick from
// that, so its rounds drift later, tick by tick, than a period from the first; a replay on the
// exact period saw other samples in a stabilization window than the live round did, and ran a
// tick before the summaries the live tick had used. It returns the time and how many of live
// (sorted) the round has passed.
func alignedRound(live []time.Time, due, now time.Time, align time.Duration) (time.Time, int) {
	k := 0
	for k < len(live) && live[k].Before(due.Add(-align)) {
		k++
	}
	if k < len(live) && !live[k].After(due.Add(align)) && !live[k].Before(now) {
		return live[k], k + 1
	}
	return due, k
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// replaySpec completes the cluster spec from the first recorded decision and the lifecycle
// records, and returns the recorded policy.
func replaySpec(spec ClusterSpec, recorded []model.Decision, life []model.LifecycleRecord) (ClusterSpec, string, error) {
	recPolicy := ""
	for _, d := range recorded {
		if spec.InstanceID != "" && d.ClusterInstanceID != spec.InstanceID {
			continue
		}
		t, err := DecodeTrace(d)
		if err != nil {
			return spec, "", err
		}
		recPolicy = d.Policy
		spec.InstanceID = cmp.Or(spec.InstanceID, d.ClusterInstanceID)
		spec.NetworkPartition = cmp.Or(spec.NetworkPartition, d.NetworkPartitionID)
		spec.DeploymentPolicy = cmp.Or(spec.DeploymentPolicy, t.Deployment)
		if spec.Min == 0 && spec.Max == 0 {
			spec.Min, spec.Max = t.Members.Min, t.Members.Max
		}
		break
	}
	for _, r := range life {
		if r.ClusterID != spec.ClusterID {
			continue
		}
		spec.ServiceName = cmp.Or(spec.ServiceName, r.ServiceName)
		spec.ApplicationID = cmp.Or(spec.ApplicationID, r.ApplicationID)
		if r.Entity == "member" {
			spec.InstanceID = cmp.Or(spec.InstanceID, r.ClusterInstanceID)
			spec.NetworkPartition = cmp.Or(spec.NetworkPartition, r.NetworkPartitionID)
		}
	}
	var errs []error
	if spec.InstanceID == "" || spec.NetworkPartition == "" {
		errs = append(errs, fmt.Errorf("%w: replay %s: no recorded decision or member names the cluster instance and network partition", ErrInvalid, spec.ClusterID))
	}
	if spec.DeploymentPolicy == "" {
		errs = append(errs, fmt.Errorf("%w: replay %s: no recorded decision names the deployment policy", ErrInvalid, spec.ClusterID))
	}
	if spec.Max == 0 && spec.Min == 0 {
		errs = append(errs, fmt.Errorf("%w: replay %s: no recorded decision gives min and max", ErrInvalid, spec.ClusterID))
	}
	spec.AutoscalePolicy = cmp.Or(spec.AutoscalePolicy, recPolicy)
	return spec, recPolicy, errors.Join(errs...)
}

// eventOfRecord turns a lifecycle record back into the topology event the autoscaler handles, or
// nil for records it does not act on.
func eventOfRecord(r model.LifecycleRecord) model.Event {
	switch r.Event {
	case (&model.MemberCreatedEvent{}).EventClass():
		return &model.MemberCreatedEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, ClusterInstanceID: r.ClusterInstanceID,
			NetworkPartitionID: r.NetworkPartitionID, PartitionID: r.PartitionID, MemberID: r.MemberID}
	case (&model.MemberInitializedEvent{}).EventClass():
		return &model.MemberInitializedEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, ClusterInstanceID: r.ClusterInstanceID,
			NetworkPartitionID: r.NetworkPartitionID, PartitionID: r.PartitionID, MemberID: r.MemberID}
	case (&model.MemberStartedEvent{}).EventClass():
		return &model.MemberStartedEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, ClusterInstanceID: r.ClusterInstanceID,
			NetworkPartitionID: r.NetworkPartitionID, PartitionID: r.PartitionID, MemberID: r.MemberID}
	case (&model.MemberActivatedEvent{}).EventClass():
		return &model.MemberActivatedEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, ClusterInstanceID: r.ClusterInstanceID,
			NetworkPartitionID: r.NetworkPartitionID, PartitionID: r.PartitionID, MemberID: r.MemberID, ApplicationID: r.ApplicationID}
	case (&model.MemberMaintenanceModeEvent{}).EventClass():
		return &model.MemberMaintenanceModeEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, ClusterInstanceID: r.ClusterInstanceID,
			NetworkPartitionID: r.NetworkPartitionID, PartitionID: r.PartitionID, MemberID: r.MemberID}
	case (&model.MemberReadyToShutdownEvent{}).EventClass():
		return &model.MemberReadyToShutdownEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, ClusterInstanceID: r.ClusterInstanceID,
			NetworkPartitionID: r.NetworkPartitionID, PartitionID: r.PartitionID, MemberID: r.MemberID}
	case (&model.MemberTerminatedEvent{}).EventClass():
		return &model.MemberTerminatedEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, ClusterInstanceID: r.ClusterInstanceID,
			NetworkPartitionID: r.NetworkPartitionID, PartitionID: r.PartitionID, MemberID: r.MemberID}
	case (&model.ClusterInstanceActivatedEvent{}).EventClass():
		return &model.ClusterInstanceActivatedEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, AppID: r.ApplicationID, InstanceID: r.ClusterInstanceID}
	case (&model.ClusterInstanceInactivateEvent{}).EventClass():
		return &model.ClusterInstanceInactivateEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, AppID: r.ApplicationID, InstanceID: r.ClusterInstanceID}
	case (&model.ClusterInstanceTerminatingEvent{}).EventClass():
		return &model.ClusterInstanceTerminatingEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, AppID: r.ApplicationID, InstanceID: r.ClusterInstanceID}
	case (&model.ClusterResetEvent{}).EventClass():
		return &model.ClusterResetEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, AppID: r.ApplicationID, InstanceID: r.ClusterInstanceID}
	}
	return nil
}

// memberOf is the member id of a member event, or "".
func memberOf(e model.Event) string {
	switch ev := e.(type) {
	case *model.MemberCreatedEvent:
		return ev.MemberID
	case *model.MemberInitializedEvent:
		return ev.MemberID
	case *model.MemberStartedEvent:
		return ev.MemberID
	case *model.MemberActivatedEvent:
		return ev.MemberID
	case *model.MemberMaintenanceModeEvent:
		return ev.MemberID
	case *model.MemberReadyToShutdownEvent:
		return ev.MemberID
	case *model.MemberTerminatedEvent:
		return ev.MemberID
	}
	return ""
}

// replayClaim is a member the controller really created: its first record.
type replayClaim struct {
	at        time.Time
	partition string
	id        string
	taken     bool
}

func replayClaims(life []model.LifecycleRecord, spec ClusterSpec) []*replayClaim {
	seen := map[string]bool{}
	var out []*replayClaim
	for _, r := range life {
		if r.Entity != "member" || r.MemberID == "" || r.ClusterID != spec.ClusterID ||
			(r.ClusterInstanceID != "" && r.ClusterInstanceID != spec.InstanceID) || seen[r.MemberID] {
			continue
		}
		seen[r.MemberID] = true
		out = append(out, &replayClaim{at: r.Time, partition: r.PartitionID, id: r.MemberID})
	}
	slices.SortStableFunc(out, func(a, b *replayClaim) int { return a.at.Compare(b.at) })
	return out
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
	clock      *manualClock
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

// timeline pairs recorded and replayed decisions, both sorted by time: the next two within tol
// share a row, else the earlier stands alone. A row differs when its two decisions differ in
// action or delta, or when a decision that acted has no partner.
func timeline(recorded, replayed []model.Decision, tol time.Duration) ([]ReplayRow, int) {
	var rows []ReplayRow
	diffs := 0
	i, j := 0, 0
	for i < len(recorded) || j < len(replayed) {
		var row ReplayRow
		switch {
		case j == len(replayed) || (i < len(recorded) && recorded[i].Time.Before(replayed[j].Time.Add(-tol))):
			row.Recorded = replayDecisionOf(recorded[i])
			row.Time = recorded[i].Time
			row.Differs = row.Recorded.Acted()
			i++
		case i == len(recorded) || replayed[j].Time.Before(recorded[i].Time.Add(-tol)):
			row.Replayed = replayDecisionOf(replayed[j])
			row.Time = replayed[j].Time
			row.Differs = row.Replayed.Acted()
			j++
		default:
			row.Recorded, row.Replayed = replayDecisionOf(recorded[i]), replayDecisionOf(replayed[j])
			row.Time = recorded[i].Time
			row.Differs = row.Recorded.Action != row.Replayed.Action || row.Recorded.Delta != row.Replayed.Delta
			i++
			j++
		}
		if row.Differs {
			diffs++
		}
		rows = append(rows, row)
	}
	return rows, diffs
}

// replaySource is what LoadReplayHistory reads; history.Store (Memory and ClickHouse) is one.
type replaySource interface {
	Summaries(ctx context.Context, q history.SummaryQuery) ([]history.Point, error)
	Lifecycle(ctx context.Context, q history.LifecycleQuery) ([]model.LifecycleRecord, error)
	Decisions(ctx context.Context, q history.DecisionQuery) ([]model.Decision, error)
}

// LoadReplayHistory reads what Replay needs of one cluster from history: its summaries and
// decisions in [from, to) (zero to: up to now), and its lifecycle records up to to (all of them,
// so that the member lists at from can be rebuilt). Summaries are read one per millisecond step,
// which gives back every stored summary unless two of one kind and member share a millisecond;
// the query leaves its end open (history bounds the steps of a closed range) and the rows after
// to are dropped here.
func LoadReplayHistory(ctx context.Context, src replaySource, clusterID string, from, to time.Time) (ReplayHistory, error) {
	var h ReplayHistory
	if clusterID == "" {
		return h, fmt.Errorf("%w: replay history: no cluster", ErrInvalid)
	}
	pts, err := src.Summaries(ctx, history.SummaryQuery{ClusterID: clusterID, From: from, Step: time.Millisecond})
	if err != nil {
		return h, fmt.Errorf("read summaries of %s: %w", clusterID, err)
	}
	for _, p := range pts {
		if !to.IsZero() && !p.Time.Before(to) {
			continue
		}
		h.Summaries = append(h.Summaries, model.Summary{Kind: p.Kind, ClusterID: p.ClusterID,
			ClusterInstanceID: p.ClusterInstanceID, MemberID: p.MemberID, Value: p.Avg, Timestamp: p.Time.UnixMilli()})
	}
	slices.SortStableFunc(h.Summaries, func(a, b model.Summary) int { return cmp.Compare(a.Timestamp, b.Timestamp) })

	h.Lifecycle, err = pageBack(time.Time{}, to,
		func(f, t time.Time) ([]model.LifecycleRecord, error) {
			return src.Lifecycle(ctx, history.LifecycleQuery{ClusterID: clusterID, From: f, To: t, Limit: history.MaxLimit})
		},
		func(r model.LifecycleRecord) time.Time { return r.Time },
		func(r model.LifecycleRecord) string { return fmt.Sprint(r) })
	if err != nil {
		return h, fmt.Errorf("read lifecycle of %s: %w", clusterID, err)
	}
	h.Decisions, err = pageBack(from, to,
		func(f, t time.Time) ([]model.Decision, error) {
			return src.Decisions(ctx, history.DecisionQuery{ClusterID: clusterID, From: f, To: t, Limit: history.MaxLimit})
		},
		func(d model.Decision) time.Time { return d.Time },
		func(d model.Decision) string { return d.ID })
	if err != nil {
		return h, fmt.Errorf("read decisions of %s: %w", clusterID, err)
	}
	return h, nil
}

// pageBack reads a range newest page first (history returns the newest Limit records), moving
// the end back to the oldest record read; records at the boundary millisecond are read twice and
// kept once.
func pageBack[T any](from, to time.Time, q func(from, to time.Time) ([]T, error), at func(T) time.Time, key func(T) string) ([]T, error) {
	var pages [][]T
	seen := map[string]bool{}
	for {
		page, err := q(from, to)
		if err != nil {
			return nil, err
		}
		fresh := page[:0:0]
		for _, r := range page {
			if k := key(r); !seen[k] {
				seen[k] = true
				fresh = append(fresh, r)
			}
		}
		pages = append(pages, fresh)
		if len(page) < history.MaxLimit || len(fresh) == 0 {
			break
		}
		next := at(page[0]).Add(time.Millisecond)
		if !to.IsZero() && !next.Before(to) {
			break
		}
		to = next
	}
	var out []T
	for i := len(pages) - 1; i >= 0; i-- {
		out = append(out, pages[i]...)
	}
	slices.SortStableFunc(out, func(a, b T) int { return at(a).Compare(at(b)) })
	return out, nil
}

// WriteText writes the timeline as a table for people, then a summary line: every row where
// either side acted or the two differ, or every row with all. A '*' marks a difference;
// members are active/non-terminated after the decision's own step was decided.
func (r *ReplayResult) WriteText(w io.Writer, all bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster %s instance %s: recorded %s, replayed %s, from %s\n", r.Cluster.ClusterID, r.Cluster.InstanceID,
		orDash(r.RecordedPolicy), r.Policy, r.From.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tTIME\tRECORDED\tMEMBERS\tREPLAYED\tMEMBERS\tREPLAYED REASON")
	side := func(d *ReplayDecision) (string, string) {
		if d == nil {
			return "-", "-"
		}
		act := d.Action
		if d.Delta != 0 {
			act += fmt.Sprintf(" %+d", d.Delta)
		}
		return act, fmt.Sprintf("%d/%d", d.Active, d.NonTerminated)
	}
	for _, row := range r.Timeline {
		if !all && !row.Differs && !row.Recorded.Acted() && !row.Replayed.Acted() {
			continue
		}
		mark := ""
		if row.Differs {
			mark = "*"
		}
		ra, rm := side(row.Recorded)
		ca, cm := side(row.Replayed)
		reason := "-"
		if row.Replayed != nil {
			reason = row.Replayed.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", mark, row.Time.UTC().Format("2006-01-02T15:04:05.000Z"), ra, rm, ca, cm, reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	rs, rt := sumDeltas(r.Recorded)
	cs, ct := sumDeltas(r.Replayed)
	fmt.Fprintf(&b, "%d recorded decisions (+%d -%d members), %d replayed (+%d -%d), %d differences",
		len(r.Recorded), rs, rt, len(r.Replayed), cs, ct, r.Differences)
	for _, row := range r.Timeline {
		if row.Differs {
			fmt.Fprintf(&b, ", first at %s", row.Time.UTC().Format(time.RFC3339))
			break
		}
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func sumDeltas(ds []model.Decision) (started, terminated int) {
	for _, d := range ds {
		if d.Delta > 0 {
			started += d.Delta
		} else {
			terminated -= d.Delta
		}
	}
	return started, terminated
}
