package autoscaler

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
	"github.com/strata-paas/strata/rules"
)

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
	tr, str    Trace // the enforced policy's trace and a shadow's
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
	a.mu.Lock()
	a.spareWork, a.spareDecs = work[:0], decs[:0]
	a.mu.Unlock()
	a.metrics.round(n, time.Since(began))
	return n
}

// run is one policy's evaluation of an instance: the enforced (or dry-run) policy, or a shadow.
type run struct {
	pol    *policies.Autoscaling
	act    bool // carry out the actions (enforce); otherwise record what would have been done
	tr     *Trace
	would  *[6]float64
	sdr    *int
	window *[]sample
	res    result
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
	r := run{pol: pol, act: mode == policies.ModeEnforce, tr: &sc.tr, would: &sc.would, sdr: &in.scaleDownRequests, window: &in.window}
	r.tr.reset(trig, in, mode)
	r.res = result{action: ActionNone}
	w0 := len(a.work)
	ended := in.ended
	in.ended = nil
	switch {
	case in.status == model.ClusterTerminating:
		a.terminatingLocked(in, now, r.act, r.tr)
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
		if okP && pol.Mode == policies.ModeEnforce {
			for _, sp := range sc.shadowsOf(pol.ID) {
				a.shadowLocked(ctx, in, sp, now, set, trig)
			}
		}
		a.decideLocked(ctx, in, &r, now, set)
		for f := range in.fam {
			in.fam[f].reset = false
		}
		if len(sc.shadowDecs) > 0 {
			a.finishShadowsLocked(in, now, &r)
		}
	}
	a.obsoleteCheckLocked(in, now, r.act, r.tr)
	if len(ended) > 0 {
		r.tr.Ended = ended
		for _, e := range ended {
			if r.res.reason != "" {
				r.res.reason += "; "
			}
			r.res.reason += "member " + e.Member + " ended before it became active: " + e.Error
		}
	}
	heldBackReason(&r)
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
	r := run{pol: sp, act: false, tr: &sc.str, would: &sc.swould, sdr: &st.scaleDownRequests, window: &st.window}
	r.tr.reset(trig, in, policies.ModeShadow)
	r.tr.Policy, r.tr.ShadowOf = sp.ID, sp.ShadowOf
	r.res = result{action: ActionNone}
	a.decideLocked(ctx, in, &r, now, set)
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

// fillEnv puts the instance's inputs into the evaluator's environment: the families with their
// predictions and required counts (§4.3, §4.4), the member counts and Stratos' verdicts.
func (a *Autoscaler) fillEnv(in *instance, pol *policies.Autoscaling, now time.Time, tr *Trace) *rules.Env {
	env := a.scratch.ev.Env()
	after := pol.Behaviour.MissingMetrics.After
	if after <= 0 {
		after = policies.DefaultMissingAfter
	}
	// Member predictions: the mean over every MemberStatsContext of the instance (§4.2).
	var laSum, mcSum float64
	n := 0
	for p := range in.parts {
		for _, l := range [...]list{listPending, listActive} {
			for _, m := range in.parts[p].lists[l] {
				if m.hasStats {
					laSum += m.la.predict()
					mcSum += m.mc.predict()
					n++
				}
			}
		}
	}
	active := in.count(listActive)
	pending := in.count(listPending) + in.starting()
	*env = rules.Env{
		Active: active, Pending: pending, TerminationPending: in.count(listTerminationPending),
		Obsolete: in.count(listObsolete), NonTerminated: active + pending, MinMembers: in.min, MaxMembers: in.max,
		ScaleDownRequests: in.scaleDownRequests, Time: rules.ClockOf(now),
		ClusterID: in.c.id, ClusterInstanceID: in.id, NetworkPartitionID: in.np, ApplicationID: in.c.app,
		TenantID: in.c.tenant, Cartridge: in.c.service,
	}
	th := pol.Thresholds
	mets := [3]*rules.Metric{&env.RIF, &env.MC, &env.LA}
	missing := 0
	for f := range in.fam {
		fm := &in.fam[f]
		m := mets[f]
		m.Average, m.Gradient, m.SecondDerivative = fm.avg, fm.grad, fm.sd
		m.Fresh = fm.reset
		last := fm.last
		if in.activeSince.After(last) {
			last = in.activeSince
		}
		m.Missing = active > 0 && now.Sub(last) > after
		if m.Missing {
			missing++
		}
	}
	env.RIF.Predicted = Predict(env.RIF.Average, env.RIF.Gradient, env.RIF.SecondDerivative)
	if n > 0 {
		env.MC.Predicted = mcSum / float64(n)
		env.LA.Predicted = laSum / float64(n)
	}
	env.RIF.Threshold, env.MC.Threshold, env.LA.Threshold = th.RequestsInFlight, th.MemoryConsumption, th.LoadAverage
	env.RIF.Required = RIFRequired(env.RIF.Predicted, th.RequestsInFlight)
	env.MC.Required = MCRequired(env.MC.Predicted, th.MemoryConsumption, in.min, in.max)
	env.LA.Required = LARequired(env.LA.Predicted, th.LoadAverage, in.min)
	env.Required = max(env.RIF.Required, env.MC.Required, env.LA.Required)
	env.ScaleUp, env.ScaleDown = Verdicts(active, env.Required)
	env.MetricsMissing = missing == len(in.fam)

	tr.Members = Counts{Active: active, Pending: pending - in.starting(), Starting: in.starting(),
		TerminationPending: env.TerminationPending, Obsolete: env.Obsolete, NonTerminated: env.NonTerminated,
		Min: in.min, Max: in.max}
	for f, m := range mets {
		tr.Families[f] = FamilyTrace{Name: familyNames[f], Average: m.Average, Gradient: m.Gradient,
			SecondDerivative: m.SecondDerivative, Predicted: m.Predicted, Threshold: m.Threshold,
			Required: m.Required, Fresh: m.Fresh, Missing: m.Missing}
		if f != familyRIF {
			tr.Families[f].Members = n
		}
	}
	tr.Stratos = Verdict{Required: env.Required, ScaleUp: env.ScaleUp, ScaleDown: env.ScaleDown}
	tr.ScaleDownRequests = in.scaleDownRequests
	return env
}

var familyNames = [3]string{"rif", "mc", "la"}

// loadsLocked fills the partition loads the algorithms see.
func (a *Autoscaler) loadsLocked(in *instance, tr *Trace) []PartitionLoad {
	sc := a.scratch
	sc.loads = sc.loads[:0]
	tr.Partitions = tr.Partitions[:0]
	for i := range in.parts {
		p := &in.parts[i]
		sc.loads = append(sc.loads, PartitionLoad{NonTerminated: p.nonTerminated(), Max: p.max, Obsolete: p.obsolete})
		tr.Partitions = append(tr.Partitions, PartitionTrace{ID: p.id, Max: p.max, Active: len(p.lists[listActive]),
			Pending: len(p.lists[listPending]) + p.starting, NonTerminated: p.nonTerminated(), Obsolete: p.obsolete})
	}
	return sc.loads
}

// pickUp picks partitions for n new members, one at a time as Stratos' spawn loop does, and
// updates loads as if they had started. It stops early when no partition may take one.
func (a *Autoscaler) pickUp(algo policies.PartitionAlgorithm, loads []PartitionLoad, n int) []int {
	sc := a.scratch
	sc.picks = sc.picks[:0]
	for range n { // the guard: n <= 0 spawns nothing
		i := PickScaleUp(algo, loads)
		if i < 0 {
			break
		}
		loads[i].NonTerminated++
		sc.picks = append(sc.picks, i)
	}
	return sc.picks
}

func (a *Autoscaler) decideLocked(ctx context.Context, in *instance, r *run, now time.Time, set *policies.Set) {
	tr := r.tr
	pol := r.pol
	env := a.fillEnv(in, pol, now, tr)
	loads := a.loadsLocked(in, tr)
	if len(in.parts) == 0 {
		tr.Limit, r.res.reason = LimitNetworkPartition, "network partition not in the deployment policy"
		return
	}
	active, nonTerm := env.Active, env.NonTerminated

	// 1. Min check (mincheck.drl).
	if nonTerm < in.min {
		picks := a.pickUp(in.algo, loads, in.min-nonTerm)
		started := a.startLocked(ctx, in, r, ActionMin, picks, now, set, env)
		nonTerm += started
		r.res.action, r.res.delta = ActionMin, r.res.delta+started
		r.res.reason = "min check: fewer non-terminated members than min"
		if len(picks) < in.min-env.NonTerminated {
			tr.Limit = LimitPartitionsFull
		}
	}

	// 2. Max check (maxcheck.drl): per partition, active above partitionMax.
	for i := range in.parts {
		p := &in.parts[i]
		excess := len(p.lists[listActive]) - p.max
		if p.obsolete || excess <= 0 {
			continue
		}
		if !a.governLocked(ctx, in, r, ActionMax, -excess, p.id, env, set) {
			continue
		}
		for k := 0; k < excess; k++ {
			l := p.lists[listActive]
			m := l[len(l)-1-k] // the last in iteration order, as Stratos does in practice
			tr.Steps = append(tr.Steps, Step{Check: "max", Action: verb(r.act, "terminate"), Partition: p.id, Member: m.id, Delta: -1})
		}
		if r.act {
			for k := 0; k < excess; k++ {
				l := p.lists[listActive]
				a.moveLocked(l[len(l)-1], listTerminationPending, now)
			}
		}
		loads[i].NonTerminated -= excess
		nonTerm -= excess
		active -= excess
		r.res.delta -= excess
		if r.res.action == ActionNone {
			r.res.action, r.res.reason = ActionMax, "max check: active members above partitionMax"
		}
	}

	// 3. Scaling (scaling.drl), only with fresh metrics (§4.2).
	reset := in.fam[familyRIF].reset || in.fam[familyMC].reset || in.fam[familyLA].reset
	switch {
	case reset:
		a.scaleLocked(ctx, in, r, env, loads, active, nonTerm, now, set)
	case env.MetricsMissing:
		a.missingLocked(ctx, in, r, env, loads, active, nonTerm, now, set)
	default:
		if tr.Limit == "" {
			tr.Limit = LimitNoFreshMetrics
		}
		if r.res.reason == "" {
			r.res.reason = "no fresh metrics since the last scaling run"
		}
	}
	if !env.MetricsMissing && r.window == &in.window {
		in.missingEpisode = false
	}
	r.res.required = env.Required
	a.wouldLocked(in, env, active, r.would, tr)
}

// scaleLocked is the scaling rule (§4.5) with the policy's rules and behaviour on top.
func (a *Autoscaler) scaleLocked(ctx context.Context, in *instance, r *run, env *rules.Env, loads []PartitionLoad,
	active, nonTerm int, now time.Time, set *policies.Set) {
	tr, pol := r.tr, r.pol
	tr.ScalingRun = true
	env.Active, env.NonTerminated = active, nonTerm
	env.ScaleUp, env.ScaleDown = Verdicts(active, env.Required)
	// Policy rules, in order; a rule that changes required also moves the verdicts that follow
	// from it, unless a later rule replaces them.
	ev := a.scratch.ev
	for i := range pol.Rules {
		rule := &pol.Rules[i]
		res, err := ev.Eval(rule.Program)
		rt := RuleTrace{Name: rule.Name, Target: string(rule.Target), Expr: rule.Expr}
		if err != nil {
			a.metrics.ruleErrors.Inc()
			rt.Error = err.Error()
			tr.Rules = append(tr.Rules, rt)
			continue
		}
		switch rule.Target {
		case policies.TargetRequired:
			n := int(math.Ceil(res.Number))
			rt.Value, rt.Changed = res.Number, n != env.Required
			env.Required = n
			env.ScaleUp, env.ScaleDown = Verdicts(active, n)
		case policies.TargetScaleUp:
			rt.Verdict, rt.Changed, rt.IsBool = res.Bool, res.Bool != env.ScaleUp, true
			env.ScaleUp = res.Bool
		case policies.TargetScaleDown:
			rt.Verdict, rt.Changed, rt.IsBool = res.Bool, res.Bool != env.ScaleDown, true
			env.ScaleDown = res.Bool
		}
		tr.Rules = append(tr.Rules, rt)
	}
	required, up, down := env.Required, env.ScaleUp, env.ScaleDown
	bh := pol.Behaviour

	// Stabilization windows: act on the most conservative required count of the window.
	win := max(bh.ScaleUp.StabilizationWindow, bh.ScaleDown.StabilizationWindow)
	w := *r.window
	keep := 0
	for _, s := range w {
		if now.Sub(s.at) <= win {
			w[keep] = s
			keep++
		}
	}
	w = append(w[:keep], sample{at: now, required: required})
	*r.window = w
	if down && bh.ScaleDown.StabilizationWindow > 0 {
		hi := required
		for _, s := range w {
			if now.Sub(s.at) <= bh.ScaleDown.StabilizationWindow && s.required > hi {
				hi = s.required
			}
		}
		if hi != required {
			tr.Stabilized = hi
			required = hi
			up, down = active < hi, active > hi || (hi == 1 && active == 1)
			if !down {
				tr.Limit = LimitStabilization
			}
		}
	} else if up && bh.ScaleUp.StabilizationWindow > 0 {
		lo := required
		for _, s := range w {
			if now.Sub(s.at) <= bh.ScaleUp.StabilizationWindow && s.required < lo {
				lo = s.required
			}
		}
		if lo != required {
			tr.Stabilized = lo
			required = lo
			up, down = active < lo, active > lo || (lo == 1 && active == 1)
			if !up {
				tr.Limit = LimitStabilization
			}
		}
	}
	if bh.Tolerance > 0 && (up || down) && math.Abs(float64(required-active)) <= bh.Tolerance*float64(active) {
		up, down = false, false
		tr.Limit, tr.ToleranceBand = LimitTolerance, true
	}
	tr.Final = Verdict{Required: required, ScaleUp: up, ScaleDown: down}
	env.Required = required

	switch {
	case up:
		if nonTerm >= in.max {
			tr.Limit, tr.BeyondMax = LimitMax, true
			r.res.reason = "scale-up wanted; already at max"
			return
		}
		add := ScaleUpCount(required, nonTerm, in.max)
		tr.BeyondMax = required > in.max
		*r.sdr = 0
		if bh.ScaleUp.MaxStep > 0 && add > bh.ScaleUp.MaxStep {
			add = bh.ScaleUp.MaxStep
			tr.MaxStepCap = add
			tr.Limit = LimitMaxStep
		}
		if add <= 0 {
			tr.Limit = LimitPendingMembers
			r.res.reason = "scale-up wanted; pending members already cover required"
			return
		}
		picks := a.pickUp(in.algo, loads, add)
		if len(picks) < add {
			tr.Limit = LimitPartitionsFull
		}
		started := a.startLocked(ctx, in, r, ActionScaleUp, picks, now, set, env)
		if started > 0 {
			r.res.action, r.res.delta = ActionScaleUp, r.res.delta+started
			r.res.reason = "scaling rule: active below required"
		} else if r.res.reason == "" {
			r.res.reason = "scale-up wanted; nothing could start"
		}
	case down:
		if nonTerm <= in.min {
			tr.Limit = LimitMin
			r.res.reason = "scale-down wanted; already at min"
			return
		}
		if *r.sdr < ScaleDownVotes {
			*r.sdr++
			tr.ScaleDownRequests = *r.sdr
			tr.Limit = LimitScaleDownVotes
			r.res.reason = "scale-down counted; Stratos acts on the fourth consecutive request"
			return
		}
		pi := PickScaleDown(in.algo, loads)
		victim := a.recordedVictimLocked(in, now) // a replay follows the live autoscaler's choice
		if victim != nil {
			pi = victim.part
		} else if pi >= 0 {
			victim = lowestLoad(&in.parts[pi])
		}
		if victim == nil {
			tr.Limit, r.res.reason = LimitNoMember, "scale-down wanted; no member to terminate"
			return
		}
		if !a.governLocked(ctx, in, r, ActionScaleDown, -1, in.parts[pi].id, env, set) {
			r.res.reason = "scale-down denied by governance"
			return
		}
		tr.Steps = append(tr.Steps, Step{Check: "scale", Action: verb(r.act, "terminate"), Partition: in.parts[pi].id, Member: victim.id, Delta: -1})
		if r.act {
			a.terminateMemberLocked(victim, now)
		}
		r.res.action, r.res.delta = ActionScaleDown, r.res.delta-1
		r.res.reason = "scaling rule: active above required"
	default:
		switch tr.Limit {
		case "":
			tr.Limit = LimitSteady
			r.res.reason = "active matches required"
		case LimitStabilization:
			r.res.reason = "held back by the stabilization window"
		case LimitTolerance:
			r.res.reason = "within the tolerance band"
		default:
			r.res.reason = "no change: " + tr.Limit
		}
	}
}

// terminateMemberLocked is Stratos' delegateTerminate: an active member goes to termination
// pending (the cleanup protocol follows), a pending one straight to obsolete.
func (a *Autoscaler) terminateMemberLocked(m *member, now time.Time) {
	if m.list == listActive {
		a.moveLocked(m, listTerminationPending, now)
	} else {
		a.moveLocked(m, listObsolete, now)
	}
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

// lowestLoad is the member of the partition with the lowest (predicted LA + predicted MC)/2,
// among those with stats; the first wins ties.
func lowestLoad(p *partition) *member {
	var best *member
	bestLoad := math.Inf(1)
	for _, l := range [...]list{listPending, listActive} {
		for _, m := range p.lists[l] {
			if !m.hasStats {
				continue
			}
			if load := (m.la.predict() + m.mc.predict()) / 2; load < bestLoad {
				best, bestLoad = m, load
			}
		}
	}
	return best
}

// missingLocked applies the policy's missing-metrics behaviour when every family is missing.
func (a *Autoscaler) missingLocked(ctx context.Context, in *instance, r *run, env *rules.Env, loads []PartitionLoad,
	active, nonTerm int, now time.Time, set *policies.Set) {
	tr := r.tr
	mm := r.pol.Behaviour.MissingMetrics
	tr.Limit = LimitMetricsMissing
	switch mm.Action {
	case policies.MissingFloor:
		target := min(max(mm.Floor, in.min), in.max)
		switch {
		case nonTerm < target:
			picks := a.pickUp(in.algo, loads, target-nonTerm)
			if n := a.startLocked(ctx, in, r, ActionMissingMetrics, picks, now, set, env); n > 0 {
				r.res.action, r.res.delta = ActionMissingMetrics, r.res.delta+n
			}
		case active > target && nonTerm > in.min:
			if pi := PickScaleDown(in.algo, loads); pi >= 0 {
				if m := lowestLoad(&in.parts[pi]); m != nil && a.governLocked(ctx, in, r, ActionMissingMetrics, -1, in.parts[pi].id, env, set) {
					tr.Steps = append(tr.Steps, Step{Check: "missing-metrics", Action: verb(r.act, "terminate"), Partition: in.parts[pi].id, Member: m.id, Delta: -1})
					if r.act {
						a.terminateMemberLocked(m, now)
					}
					r.res.action, r.res.delta = ActionMissingMetrics, r.res.delta-1
				}
			}
		}
		r.res.reason = "metrics missing: scaling to the floor"
	case policies.MissingScaleOut:
		if in.missingEpisode && r.window == &in.window {
			r.res.reason = "metrics missing: fail-safe scale-out already done for this outage"
			return
		}
		if r.window == &in.window {
			in.missingEpisode = true
		}
		add := min(mm.Step, in.max-nonTerm)
		picks := a.pickUp(in.algo, loads, add)
		if n := a.startLocked(ctx, in, r, ActionMissingMetrics, picks, now, set, env); n > 0 {
			r.res.action, r.res.delta = ActionMissingMetrics, r.res.delta+n
		}
		r.res.reason = "metrics missing: fail-safe scale-out"
	default:
		r.res.reason = "metrics missing: holding the current count"
	}
}

// startLocked asks governance about the picks and starts (or, not acting, records) a member in
// each allowed partition. It returns the number started or that would have been.
func (a *Autoscaler) startLocked(ctx context.Context, in *instance, r *run, check string, picks []int, now time.Time,
	set *policies.Set, env *rules.Env) int {
	if len(picks) == 0 || a.crashHoldLocked(in, r, now) {
		return 0
	}
	// One governance question per distinct partition, with the whole step as the delta.
	var denied [8]bool // by partition index; more partitions than that are asked each time
	var asked [8]bool
	n := 0
	for _, pi := range picks {
		ok := true
		if pi < len(asked) {
			if !asked[pi] {
				asked[pi] = true
				denied[pi] = !a.governLocked(ctx, in, r, check, len(picks), in.parts[pi].id, env, set)
			}
			ok = !denied[pi]
		} else {
			ok = a.governLocked(ctx, in, r, check, len(picks), in.parts[pi].id, env, set)
		}
		if !ok {
			continue
		}
		p := &in.parts[pi]
		r.tr.Steps = append(r.tr.Steps, Step{Check: stepCheck(check), Action: verb(r.act, "start"), Partition: p.id, Delta: 1})
		n++
		if !r.act {
			continue
		}
		if t := a.scratch.tenants; t != nil {
			t[in.c.tenant]++ // later proposals in this round see the members already decided
		}
		p.starting++
		a.work = append(a.work, action{kind: actStart, in: in, partID: p.id, req: StartRequest{
			ClusterID: in.c.id, ClusterInstanceID: in.id, NetworkPartitionID: in.np, PartitionID: p.id,
			MinCount: in.min, ScalingDecisionID: in.c.id + "-" + a.idBase + strconv.FormatUint(a.seq.Add(1), 36)}})
	}
	return n
}

func stepCheck(action string) string {
	switch action {
	case ActionMin:
		return "min"
	case ActionMissingMetrics:
		return "missing-metrics"
	}
	return "scale"
}

func verb(act bool, v string) string {
	if act {
		return v
	}
	return "would-" + v
}

// governLocked asks the governance policy (Rego) about a proposed action. It is only called
// when an action is proposed, so a steady instance costs no Rego evaluation; answers are cached
// by proposal for a minute (rules.RegoQuery.Decide).
func (a *Autoscaler) governLocked(ctx context.Context, in *instance, r *run, act string, delta int, partition string,
	env *rules.Env, set *policies.Set) bool {
	if set.Governance() == nil {
		return true
	}
	p := rules.Proposal{Action: act, Delta: delta, Policy: r.pol.ID, ClusterID: in.c.id, ClusterInstanceID: in.id,
		NetworkPartitionID: in.np, PartitionID: partition, ApplicationID: in.c.app, TenantID: in.c.tenant,
		Cartridge: in.c.service, Active: env.Active, NonTerminated: env.NonTerminated, Required: env.Required,
		MinMembers: in.min, MaxMembers: in.max, Hour: env.Time.Hour, Minute: env.Time.Minute, Weekday: env.Time.Weekday}
	for _, other := range in.c.instances {
		p.ClusterMembers += other.nonTerminated()
	}
	p.TenantMembers = a.tenantMembersLocked(in.c.tenant)
	res, err := set.Govern(ctx, p)
	gt := GovTrace{Action: p.Action, Partition: partition, Delta: delta, Denied: res.Denied(), Messages: res.Messages, Cached: res.Cached}
	if err != nil {
		gt.Error = err.Error()
		gt.Denied = true // fail closed: an action governance cannot judge is not taken
	}
	r.tr.Governance = append(r.tr.Governance, gt)
	if gt.Denied {
		r.tr.Limit = LimitGovernance
	}
	return !gt.Denied
}

func (a *Autoscaler) tenantMembersLocked(tenant string) int {
	sc := a.scratch
	if sc.tenants == nil {
		sc.tenants = map[string]int{}
		for _, c := range a.clusters {
			for _, in := range c.instances {
				sc.tenants[c.tenant] += in.nonTerminated()
			}
		}
	}
	return sc.tenants[tenant]
}

// wouldLocked records what would have triggered a change: the predicted value each family would
// need to raise required above active (scale up) or to let it fall below (scale down).
func (a *Autoscaler) wouldLocked(in *instance, env *rules.Env, active int, w *[6]float64, tr *Trace) {
	nan := math.NaN()
	*w = [6]float64{nan, nan, nan, nan, nan, nan}
	A, mn, mx := float64(active), float64(in.min), float64(in.max)
	if t := env.RIF.Threshold; t > 0 {
		w[0] = A * t
		if active > 0 {
			w[3] = (A - 1) * t
		}
	}
	if t := env.MC.Threshold; mx > mn && active >= in.min {
		w[1] = t + (A-mn)*(100-t)/(mx-mn)
	}
	if active >= in.min && active > 0 {
		w[4] = env.MC.Threshold
	}
	if t := env.LA.Threshold; t > 0 && in.min > 0 {
		w[2] = A * t / mn
		if active > 0 {
			w[5] = (A - 1) * t / mn
		}
	}
	tr.would = w
}

// obsoleteCheckLocked is obsoletecheck.drl and the partition watchers (§4.9): terminate obsolete
// members (again every round until MemberTerminated), send InstanceCleanupMemberEvent to
// termination-pending members (again every round until they answer), and expire members that
// stayed too long in a list.
func (a *Autoscaler) obsoleteCheckLocked(in *instance, now time.Time, act bool, tr *Trace) {
	for pi := 0; pi < len(in.parts); pi++ {
		p := &in.parts[pi]
		// Pending members that never activated become obsolete.
		expiry := a.opts.PendingMemberExpiry
		if p.expiries > pendingFailureThreshold {
			expiry *= 2
		}
		for i := 0; i < len(p.lists[listPending]); {
			m := p.lists[listPending][i]
			if now.Sub(m.since) <= expiry && in.status != model.ClusterTerminating {
				i++
				continue
			}
			tr.Steps = append(tr.Steps, Step{Check: "pending-expiry", Action: verb(act, "obsolete"), Partition: p.id, Member: m.id})
			if !act {
				i++
				continue
			}
			p.expiries++
			a.moveLocked(m, listObsolete, now)
		}
		for i := 0; i < len(p.lists[listTerminationPending]); {
			m := p.lists[listTerminationPending][i]
			if now.Sub(m.since) > a.opts.TerminationPendingMemberExpiry {
				tr.Steps = append(tr.Steps, Step{Check: "termination-pending-expiry", Action: verb(act, "obsolete"), Partition: p.id, Member: m.id})
				if act {
					a.moveLocked(m, listObsolete, now)
					continue
				}
			} else {
				tr.Steps = append(tr.Steps, Step{Check: "cleanup", Action: verb(act, "cleanup"), Partition: p.id, Member: m.id})
				if act {
					a.work = append(a.work, action{kind: actPublish, event: &model.InstanceCleanupMemberEvent{MemberID: m.id}})
				}
			}
			i++
		}
		for i := 0; i < len(p.lists[listObsolete]); {
			m := p.lists[listObsolete][i]
			forced := now.Sub(m.since) > a.opts.ObsoleteMemberExpiry
			tr.Steps = append(tr.Steps, Step{Check: "obsolete", Action: verb(act, "terminate"), Partition: p.id, Member: m.id, Forced: forced})
			if act {
				// The controller terminates an obsolete member at once (forced), as Stratos' CC
				// terminateInstance does: the graceful part has happened in termination pending
				// (cleanup, ready to shutdown) or cannot happen (a faulty member's agent is gone,
				// an expired member did not answer). A graceful call would make the controller
				// send cleanup again and keep a dead member Active in the topology until its
				// GracefulTimeout (30 min). Forced in the trace is the 24 h expiry: forgotten.
				a.work = append(a.work, action{kind: actTerminate, in: in, memberID: m.id, forced: true})
				if forced {
					before := len(in.parts)
					a.dropMemberLocked(m)
					if len(in.parts) != before {
						pi-- // the obsolete partition was removed
						break
					}
					continue
				}
			}
			i++
		}
	}
}

// terminatingLocked handles a Terminating cluster instance (ClusterMonitor#monitor).
func (a *Autoscaler) terminatingLocked(in *instance, now time.Time, act bool, tr *Trace) {
	if in.count(listActive) > 0 && act {
		a.work = append(a.work, action{kind: actPublish, event: &model.InstanceCleanupClusterEvent{ClusterID: in.c.id, ClusterInstanceID: in.id}})
	}
	tr.Limit = ActionTerminating
	if !act {
		return
	}
	if !in.terminatedSent && in.nonTerminated() == 0 && in.count(listTerminationPending) == 0 && in.count(listObsolete) == 0 {
		in.terminatedSent = true
		a.work = append(a.work, action{kind: actPublish, event: &model.ClusterStatusClusterTerminatedEvent{
			ServiceName: in.c.service, ClusterID: in.c.id, AppID: in.c.app, InstanceID: in.id}})
	}
	for i := range in.parts {
		p := &in.parts[i]
		for len(p.lists[listActive]) > 0 {
			a.moveLocked(p.lists[listActive][0], listTerminationPending, now)
		}
		for len(p.lists[listPending]) > 0 {
			a.moveLocked(p.lists[listPending][0], listObsolete, now)
		}
	}
}
