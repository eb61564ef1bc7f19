package autoscaler

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

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
// and the phase of the monitor tick before the first recorded tick in the range.

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

// Replay runs the policy over the history; see the comment at the top of replay.go. The
// history becomes the inputs (replay_inputs.go), a driver feeds them to a fresh autoscaler on a
// fake clock (replay_drive.go), and the decisions are paired (replay_timeline.go).
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

	d, err := newReplayDriver(set, spec, o, start, recorded, h.Lifecycle)
	if err != nil {
		return nil, err
	}
	if err := d.drive(ctx, replayInputs(h, spec, o, d.st, d.victims), o.To); err != nil {
		return nil, err
	}

	var replayed []model.Decision
	for _, dec := range d.rec.ds {
		if dec.Policy == polID && dec.Mode != string(policies.ModeShadow) && dec.ClusterInstanceID == spec.InstanceID {
			replayed = append(replayed, dec)
		}
	}
	res := &ReplayResult{Cluster: spec, Policy: polID, RecordedPolicy: recPolicy, From: start, To: o.To,
		Recorded: recorded, Replayed: replayed}
	res.Timeline, res.Differences = timeline(recorded, replayed, o.MatchTolerance)
	return res, nil
}
