package autoscaler

import (
	"math"
	"time"

	"github.com/strata-paas/strata/policies"
	"github.com/strata-paas/strata/rules"
)

// The inputs of a decision: the environment the rules see and the partition loads the
// algorithms see, and what would have changed the decision.

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
		ScaleDownRequests: in.scaleDownRequests, Time: rules.TimeOf(now),
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
