package autoscaler

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/strata-paas/strata/policies"
	"github.com/strata-paas/strata/rules"
)

// Scaling: the scaling rule (§4.5) with the policy's rules and behaviour on top, and the starts
// and terminations it decides.

// scale is the scaling rule with the policy's rules, stabilization windows, tolerance and steps.
func (r *run) scale(ctx context.Context) {
	tr, env, bh := r.tr, r.env, r.pol.Behaviour
	active, nonTerm := r.active, r.nonTerm
	tr.ScalingRun = true
	env.Active, env.NonTerminated = active, nonTerm
	env.ScaleUp, env.ScaleDown = Verdicts(active, env.Required)
	if n := applyRules(r.a.scratch.ev, r.pol, active, tr); n > 0 {
		r.a.metrics.ruleErrors.Add(float64(n))
	}
	required, up, down := stabilize(r.window, r.now, bh, active, env.Required, env.ScaleUp, env.ScaleDown, tr)
	if bh.Tolerance > 0 && (up || down) {
		switch {
		case required == active: // Stratos' 1/1 scale-down: no change is within any band
			up, down = false, false
			tr.Limit = LimitSteady
		case math.Abs(float64(required-active)) <= bh.Tolerance*float64(active):
			up, down = false, false
			tr.Limit, tr.ToleranceBand = LimitTolerance, true
		}
	}
	tr.Final = Verdict{Required: required, ScaleUp: up, ScaleDown: down}
	env.Required = required

	switch {
	case up:
		r.scaleUp(ctx, required)
	case down:
		r.scaleDown(ctx)
	default:
		switch tr.Limit {
		case "", LimitSteady:
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

// applyRules runs the policy's rules in order on the evaluator's environment: the one rule loop.
// A rule that changes required also moves the verdicts that follow from it (Verdicts with
// active), unless a later rule replaces them; a rule that fails is traced and skipped. It
// returns the number of rules that failed.
func applyRules(ev *rules.Evaluator, pol *policies.Autoscaling, active int, tr *Trace) int {
	env := ev.Env()
	failed := 0
	for i := range pol.Rules {
		rule := &pol.Rules[i]
		res, err := ev.Eval(rule.Program)
		rt := RuleTrace{Name: rule.Name, Target: string(rule.Target), Expr: rule.Expr}
		if err != nil {
			failed++
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
	return failed
}

// stabilize keeps the required count in the run's window and applies the behaviour's
// stabilization windows, HPA's rule for both directions: a scale-down acts on the highest required
// count of the scale-down window, a scale-up on the lowest of the scale-up window, and neither
// goes past the active count, so that a scale-down window never scales up and a scale-up window
// never scales down. It returns the required count and verdicts to act on; when a window changed
// them, the trace has the count acted on and, when it held the change back entirely, the limit.
func stabilize(window *[]sample, now time.Time, bh policies.Behaviour, active, required int, up, down bool, tr *Trace) (int, bool, bool) {
	// Keep the samples of the longer window, then add this run's.
	win := max(bh.ScaleUp.StabilizationWindow, bh.ScaleDown.StabilizationWindow)
	w := *window
	keep := 0
	for _, s := range w {
		if now.Sub(s.at) <= win {
			w[keep] = s
			keep++
		}
	}
	w = append(w[:keep], sample{at: now, required: required})
	*window = w

	var d time.Duration
	switch {
	case down && bh.ScaleDown.StabilizationWindow > 0:
		d = bh.ScaleDown.StabilizationWindow
	case up && bh.ScaleUp.StabilizationWindow > 0:
		d = bh.ScaleUp.StabilizationWindow
	default:
		return required, up, down
	}
	// The most conservative count of the window: the highest for a scale-down, the lowest for a
	// scale-up. The window is open at its start, as HPA's: a sample exactly one window old is
	// out, so that a replay whose stored times lost the live ones' sub-millisecond part sees the
	// samples the live round saw.
	held := required
	for _, s := range w {
		if now.Sub(s.at) < d && (down && s.required > held || up && s.required < held) {
			held = s.required
		}
	}
	if held == required {
		return required, up, down
	}
	if down {
		up, down = false, active > held || (held == 1 && active == 1)
		held = min(held, active)
	} else {
		up, down = active < held, false
		held = max(held, active)
	}
	tr.Stabilized = held
	if !up && !down {
		tr.Limit = LimitStabilization
	}
	return held, up, down
}

// scaleUp starts members for required, within max, the behaviour's step and the partitions.
func (r *run) scaleUp(ctx context.Context, required int) {
	in, tr, bh := r.in, r.tr, r.pol.Behaviour
	tree := r.act && r.own // the tree hears from the enforced run only
	if r.nonTerm >= in.max {
		tr.Limit, tr.BeyondMax = LimitMax, true
		r.res.reason = "scale-up wanted; already at max"
		if tree {
			r.a.treeBeyondMaxLocked(in, r.now)
		}
		return
	}
	add := ScaleUpCount(required, r.nonTerm, in.max)
	tr.BeyondMax = required > in.max
	*r.sdr = 0
	if tree && tr.BeyondMax {
		r.a.treeBeyondMaxLocked(in, r.now)
	}
	if tree && r.a.treeScaleLocked(in, required, r.now) {
		tr.Limit = LimitScalingDependents
		r.res.reason = "scale-up wanted; it has scaling dependents, so its factor goes to the parent, which scales them together"
		return
	}
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
	picks := r.pickUp(add)
	if len(picks) < add {
		tr.Limit = LimitPartitionsFull
	}
	started := r.start(ctx, ActionScaleUp, picks)
	if started > 0 {
		r.res.action, r.res.delta = ActionScaleUp, r.res.delta+started
		r.res.reason = "scaling rule: active below required"
	} else if r.res.reason == "" {
		r.res.reason = "scale-up wanted; nothing could start"
	}
}

// scaleDown counts the scale-down votes and, on the fourth, terminates the least loaded member
// of the partition the algorithm picks.
func (r *run) scaleDown(ctx context.Context) {
	in, tr := r.in, r.tr
	if r.nonTerm <= in.min {
		tr.Limit = LimitMin
		r.res.reason = "scale-down wanted; already at min"
		if r.act && r.own {
			r.a.treeBelowMinLocked(in, r.now)
		}
		return
	}
	if *r.sdr < ScaleDownVotes {
		*r.sdr++
		tr.ScaleDownRequests = *r.sdr
		tr.Limit = LimitScaleDownVotes
		r.res.reason = "scale-down counted; Stratos acts on the fourth consecutive request"
		return
	}
	if r.act && r.own && r.a.treeScaleLocked(in, r.env.Required, r.now) {
		tr.Limit = LimitScalingDependents
		r.res.reason = "scale-down wanted; it has scaling dependents, so its factor goes to the parent, which scales them together"
		return
	}
	pi := PickScaleDown(in.algo, r.loads)
	victim := r.a.recordedVictimLocked(in, r.now) // a replay follows the live autoscaler's choice
	if victim != nil {
		pi = victim.part
	} else if pi >= 0 {
		victim = lowestLoad(&in.parts[pi])
	}
	if victim == nil {
		tr.Limit, r.res.reason = LimitNoMember, "scale-down wanted; no member to terminate"
		return
	}
	if !r.govern(ctx, ActionScaleDown, -1, in.parts[pi].id) {
		r.res.reason = "scale-down denied by governance"
		return
	}
	tr.Steps = append(tr.Steps, Step{Check: "scale", Action: verb(r.act, "terminate"), Partition: in.parts[pi].id, Member: victim.id, Delta: -1})
	if r.act {
		r.a.terminateMemberLocked(victim, r.now)
	}
	r.res.action, r.res.delta = ActionScaleDown, r.res.delta-1
	r.res.reason = "scaling rule: active above required"
}

// pickUp picks partitions for n new members, one at a time as Stratos' spawn loop does, and
// updates the loads as if they had started. It stops early when no partition may take one.
func (r *run) pickUp(n int) []int {
	sc := r.a.scratch
	sc.picks = sc.picks[:0]
	for range n { // the guard: n <= 0 spawns nothing
		i := PickScaleUp(r.in.algo, r.loads)
		if i < 0 {
			break
		}
		r.loads[i].NonTerminated++
		sc.picks = append(sc.picks, i)
	}
	return sc.picks
}

// start asks governance about the picks and starts (or, not acting, records) a member in each
// allowed partition. It returns the number started or that would have been.
func (r *run) start(ctx context.Context, check string, picks []int) int {
	if len(picks) == 0 || r.a.crashHoldLocked(r.in, r, r.now) {
		return 0
	}
	a, in := r.a, r.in
	// One governance question per distinct partition, with the whole step as the delta.
	var denied [8]bool // by partition index; more partitions than that are asked each time
	var asked [8]bool
	n := 0
	first := len(r.tr.Steps) // this call's steps: one per partition, its Delta the starts there
	for _, pi := range picks {
		ok := true
		if pi < len(asked) {
			if !asked[pi] {
				asked[pi] = true
				denied[pi] = !r.govern(ctx, check, len(picks), in.parts[pi].id)
			}
			ok = !denied[pi]
		} else {
			ok = r.govern(ctx, check, len(picks), in.parts[pi].id)
		}
		if !ok {
			continue
		}
		p := &in.parts[pi]
		act := r.act || r.own && check == ActionMin
		r.tr.addStart(first, Step{Check: stepCheck(check), Action: verb(act, "start"), Partition: p.id, Delta: 1})
		n++
		if !act {
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

// terminateMemberLocked is Stratos' delegateTerminate: an active member goes to termination
// pending (the cleanup protocol follows), a pending one straight to obsolete.
func (a *Autoscaler) terminateMemberLocked(m *member, now time.Time) {
	if m.list == listActive {
		a.moveLocked(m, listTerminationPending, now)
	} else {
		a.moveLocked(m, listObsolete, now)
	}
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
