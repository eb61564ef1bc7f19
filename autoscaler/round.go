package autoscaler

import (
	"context"
	"strconv"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
	"github.com/strata-paas/strata/rules"
)

// The round: which instances are due, one run of the enforced (or dry-run) policy and of each
// shadow per instance, and the actions carried out once the lock is released. A run decides in
// Stratos' order (ClusterMonitor#monitor): the checks (checks.go), then scaling (scaling.go),
// asking governance (governance.go) about every action proposed.

type actionKind uint8

const (
	actStart actionKind = iota
	actTerminate
	actPublish
)

// action is a side effect decided under the lock and carried out after it is released.
type action struct {
	kind     actionKind
	in       *instance
	partID   string
	req      StartRequest
	memberID string
	forced   bool
	event    model.Event
	decision string // a start's: the id of the decision that took it
}

// decisionOut is a recorded decision on its way to the recorder and the bus.
type decisionOut struct{ d model.Decision }

// Decision actions.
const (
	ActionNone           = "none"
	ActionScaleUp        = "scale-up"
	ActionScaleDown      = "scale-down"
	ActionMin            = "min"
	ActionMax            = "max"
	ActionMissingMetrics = "missing-metrics"
	ActionTerminating    = "terminating"
)

// Limits: the constraint that decided, recorded in every trace.
const (
	LimitNoFreshMetrics   = "no-fresh-metrics"     // no family was reset since the last scaling run (§4.2)
	LimitSteady           = "steady"               // active == required
	LimitMax              = "max"                  // non-terminated members already at max (ScalingUpBeyondMax)
	LimitMin              = "min"                  // non-terminated members at min (ScalingDownBeyondMin)
	LimitPendingMembers   = "pending-members"      // members being started already cover required (spawn-loop guard)
	LimitPartitionsFull   = "partitions-full"      // no partition may take another member
	LimitScaleDownVotes   = "scale-down-votes"     // scale-down counted, not yet acted on (§4.5)
	LimitStabilization    = "stabilization-window" // the behaviour's stabilization window held the change back
	LimitTolerance        = "tolerance"            // the change is within the tolerance band
	LimitMaxStep          = "max-step"             // the step was capped
	LimitGovernance       = "governance"           // Rego denied the action
	LimitPolicyMissing    = "policy-missing"
	LimitMetricsMissing   = "metrics-missing"   // every family is missing; the missing-metrics action applies
	LimitNoMember         = "no-member"         // nothing to terminate in the partition picked
	LimitNetworkPartition = "network-partition" // the instance's network partition is not in the deployment policy
)

// scratch is the evaluation state reused across instances and rounds, so that a steady round
// does not allocate. It is guarded by Autoscaler.mu.
type scratch struct {
	ev         *rules.Evaluator
	own, sh    run   // the instance's own run and a shadow's
	tr, str    Trace // their traces
	buf        []byte
	loads      []PartitionLoad
	picks      []int
	would      [6]float64
	swould     [6]float64
	set        *policies.Set
	shadows    map[string][]*policies.Autoscaling
	tenants    map[string]int // non-terminated members per tenant, computed once a round when needed
	shadowDecs []shadowDec
}

func newScratch() *scratch {
	return &scratch{ev: rules.NewEvaluator(), shadows: map[string][]*policies.Autoscaling{}}
}

// beginRound resets the per-round caches.
func (sc *scratch) beginRound(set *policies.Set) {
	if sc.set != set {
		clear(sc.shadows)
		sc.set = set
	}
	sc.tenants = nil
}

func (sc *scratch) shadowsOf(id string) []*policies.Autoscaling {
	s, ok := sc.shadows[id]
	if !ok {
		s = sc.set.Shadows(id)
		sc.shadows[id] = s
	}
	return s
}

// Evaluate runs one round now: every cluster instance that is due (its monitor tick, fresh
// metrics settled, or a member event that needs action) is decided, then the starts,
// terminations, events and decisions are carried out. Run calls it; tests and RunFixture call it
// with a fake clock. It returns the number of instances decided.
func (a *Autoscaler) Evaluate(ctx context.Context) int {
	a.roundMu.Lock()
	defer a.roundMu.Unlock()
	// The round's duration is wall time, whatever the clock says: it measures the work.
	began := time.Now()
	now := a.clock.Now()
	set := a.opts.Policies.Set()
	a.mu.Lock()
	a.scratch.beginRound(set)
	n := 0
	for len(a.queue) > 0 && !a.queue[0].due.After(now) {
		in := a.queue[0]
		trig := in.trigger
		if !now.Before(in.nextTick) {
			trig = triggerTick
			in.nextTick = now.Add(a.opts.MonitorInterval)
		}
		if trig == "" {
			trig = triggerTick
		}
		in.trigger = ""
		a.queue.reschedule(in, in.nextTick)
		a.evaluateLocked(ctx, in, now, set, trig)
		n++
	}
	work, decs := a.work, a.decisions
	a.work, a.decisions = a.spareWork[:0], a.spareDecs[:0]
	a.mu.Unlock()
	a.execute(ctx, work, decs)
	clear(work)
	clear(decs)
	if cap(work) > maxSpareWork {
		work = nil // the round that deployed N members had N starts: not kept for the rounds after
	}
	if cap(decs) > maxSpareWork {
		decs = nil
	}
	a.mu.Lock()
	a.spareWork, a.spareDecs = work[:0], decs[:0]
	a.mu.Unlock()
	a.metrics.round(n, time.Since(began))
	return n
}

// maxSpareWork is the largest buffer of actions or decisions a round leaves to the next: a
// deployment's first round starts every member (~200 B an action, issue 17), a steady round a few.
const maxSpareWork = 1024

// run is one policy's evaluation of an instance in a round: the enforced (or dry-run) policy,
// or a shadow. It carries the state the checks and scaling share, and lives in the scratch so
// that a round does not allocate.
type run struct {
	a   *Autoscaler
	in  *instance
	now time.Time
	set *policies.Set
	pol *policies.Autoscaling
	act bool // carry out the policy's actions (enforce); otherwise record what would have been done
	// own: the instance's own run (enforced or dry-run), not a shadow's. Its checks (min, max,
	// obsolete, terminating) act whatever the policy's mode: they are the cluster's, not the
	// policy's, and a dry-run cluster without its min members would have nothing to decide on.
	own    bool
	tr     *Trace
	would  *[6]float64
	sdr    *int      // the scale-down votes
	window *[]sample // the stabilization windows' samples
	res    result

	// Filled by decide: the environment the rules see, the partition loads the algorithms see,
	// and the member counts as the checks leave them.
	env             *rules.Env
	loads           []PartitionLoad
	active, nonTerm int
	dependent       string // what the dependent check did (tree_scaling.go), first in the reason
}

type result struct {
	action   string
	delta    int
	required int
	reason   string
}

func (a *Autoscaler) evaluateLocked(ctx context.Context, in *instance, now time.Time, set *policies.Set, trig string) {
	sc := a.scratch
	pol, okP := set.Autoscaling(in.c.autoscalePolicy)
	dep, okD := set.Deployment(in.c.deploymentPolicy)
	if okD {
		a.syncPartitionsLocked(in, dep)
	}
	mode := policies.ModeEnforce
	if okP {
		mode = pol.Mode
		if mode == policies.ModeShadow {
			mode = policies.ModeDryRun // a shadow policy assigned directly never acts
		}
	}
	r := &sc.own
	*r = run{a: a, in: in, now: now, set: set, pol: pol, act: mode == policies.ModeEnforce, own: true,
		tr: &sc.tr, would: &sc.would, sdr: &in.scaleDownRequests, window: &in.window, res: result{action: ActionNone}}
	r.tr.reset(trig, in, mode)
	w0 := len(a.work)
	ended := in.ended
	in.ended = nil
	switch {
	case in.status == model.ClusterTerminating:
		r.terminating()
		r.res.action, r.res.reason = ActionTerminating, "cluster instance is terminating"
	case !okP || !okD:
		r.tr.Limit = LimitPolicyMissing
		r.res.reason = "policy not found"
		if !okP {
			r.tr.Error = "autoscaling policy " + in.c.autoscalePolicy + " not found"
		} else {
			r.tr.Error = "deployment policy " + in.c.deploymentPolicy + " not found"
		}
	default:
		r.tr.Policy = pol.ID
		if pol.Mode == policies.ModeEnforce {
			for _, sp := range sc.shadowsOf(pol.ID) {
				a.shadowLocked(ctx, in, sp, now, set, trig)
			}
		}
		r.decide(ctx)
		for f := range in.fam {
			in.fam[f].reset = false
		}
		if len(sc.shadowDecs) > 0 {
			a.finishShadowsLocked(in, now, r)
		}
	}
	r.obsoleteCheck()
	if len(ended) > 0 {
		r.tr.Ended = ended
		for _, e := range ended {
			if r.res.reason != "" {
				r.res.reason += "; "
			}
			r.res.reason += "member " + e.Member + " ended before it became active: " + e.Error
		}
	}
	heldBackReason(r)
	id := a.recordLocked(in, now, r.pol, okP, mode, r.tr, r.res, "")
	for i := w0; i < len(a.work); i++ {
		if a.work[i].kind == actStart {
			a.work[i].decision = id // a start that fails is added to its decision
		}
	}
}

// shadowLocked decides with a shadow policy on the same inputs and keeps the result until the
// enforced decision is known.
func (a *Autoscaler) shadowLocked(ctx context.Context, in *instance, sp *policies.Autoscaling, now time.Time, set *policies.Set, trig string) {
	sc := a.scratch
	if in.shadows == nil {
		in.shadows = map[string]*shadowState{}
	}
	st := in.shadows[sp.ID]
	if st == nil || st.policy != sp {
		st = &shadowState{policy: sp}
		in.shadows[sp.ID] = st
	}
	r := &sc.sh
	*r = run{a: a, in: in, now: now, set: set, pol: sp, tr: &sc.str, would: &sc.swould, sdr: &st.scaleDownRequests,
		window: &st.window, res: result{action: ActionNone}}
	r.tr.reset(trig, in, policies.ModeShadow)
	r.tr.Policy, r.tr.ShadowOf = sp.ID, sp.ShadowOf
	r.decide(ctx)
	sc.shadowDecs = append(sc.shadowDecs, shadowDec{pol: sp, res: r.res, trace: append([]byte(nil), a.encodeTrace(r.tr)...)})
}

// finishShadowsLocked records the shadow decisions that differ from the enforced one.
func (a *Autoscaler) finishShadowsLocked(in *instance, now time.Time, r *run) {
	sc := a.scratch
	for _, s := range sc.shadowDecs {
		if s.res.action == r.res.action && s.res.delta == r.res.delta {
			continue
		}
		reason := "differs from " + r.pol.ID + ": " + s.res.action + " " + strconv.Itoa(s.res.delta) +
			" instead of " + r.res.action + " " + strconv.Itoa(r.res.delta)
		a.recordRawLocked(in, now, s.pol.ID, string(policies.ModeShadow), s.res, reason, s.trace)
	}
	sc.shadowDecs = sc.shadowDecs[:0]
}

type shadowDec struct {
	pol   *policies.Autoscaling
	res   result
	trace []byte
}

// decide runs the checks and the scaling rule in Stratos' order: the min check, the max check,
// then scaling with fresh metrics or the missing-metrics behaviour without any.
func (r *run) decide(ctx context.Context) {
	in, tr := r.in, r.tr
	r.env = r.a.fillEnv(in, r.pol, r.now, tr)
	r.loads = r.a.loadsLocked(in, tr)
	if len(in.parts) == 0 {
		tr.Limit, r.res.reason = LimitNetworkPartition, "network partition not in the deployment policy"
		return
	}
	r.active, r.nonTerm = r.env.Active, r.env.NonTerminated
	r.minCheck(ctx)
	r.maxCheck(ctx)
	r.dependentCheck(ctx)

	// Scaling (scaling.drl), only with fresh metrics (§4.2).
	reset := in.fam[familyRIF].reset || in.fam[familyMC].reset || in.fam[familyLA].reset
	switch {
	case reset:
		r.scale(ctx)
	case r.env.MetricsMissing:
		r.missing(ctx)
	default:
		if tr.Limit == "" {
			tr.Limit = LimitNoFreshMetrics
		}
		if r.res.reason == "" {
			r.res.reason = "no fresh metrics since the last scaling run"
		}
	}
	if !r.env.MetricsMissing && r.own {
		in.missingEpisode = false
	}
	if r.dependent != "" && r.res.reason != r.dependent {
		r.res.reason = andReason(r.dependent, r.res.reason)
	}
	r.res.required = r.env.Required
	r.a.wouldLocked(in, r.env, r.active, r.would, tr)
}
