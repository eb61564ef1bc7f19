package autoscaler

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// Scaling in the tree (§4.5, §4.10): a cluster with scaling dependents sends its parent a factor
// instead of scaling itself, and the parent pushes the highest factor of the set down to every
// dependent, whose next round moves it to min * factor (dependentCheck); a cluster that wants
// more than its max tells its parent, which creates another group instance (group scaling) or,
// at the application, bursts into the next network partition. Everything here runs with
// Autoscaler.mu held.

// pushedFactor is the factor a scaling dependent was given, until its next round acts on it.
type pushedFactor struct {
	set    bool
	factor float64
	from   string // the child whose request carried the factor
}

// dependentsOf is the scaling-dependents set of pi's component that holds key, or nil.
func dependentsOf(pi *parentInstance, key string) []string {
	for _, set := range pi.comp.scalingDependents {
		if slices.Contains(set, key) {
			return set
		}
	}
	return nil
}

// treeScaleLocked is the scaling rule's question to the tree for a cluster instance that wants
// required members: when it has scaling dependents, its factor (required / min) goes to its
// parent and it reports true: the instance does not scale itself.
func (a *Autoscaler) treeScaleLocked(in *instance, required int, now time.Time) bool {
	pi, node := a.parentOfLocked(in)
	if pi == nil || dependentsOf(pi, node.def.key) == nil {
		return false
	}
	a.childScaleLocked(pi, node, ScalingFactor(required, in.min))
	return true
}

// treeBeyondMaxLocked tells the tree that a cluster instance wants more members than its max
// (ScalingUpBeyondMax).
func (a *Autoscaler) treeBeyondMaxLocked(in *instance, now time.Time) {
	if pi, node := a.parentOfLocked(in); pi != nil {
		a.childMaxLocked(pi, node, now)
	}
}

// childScaleLocked is called when a cluster child of pi with scaling dependents wants to scale:
// factor is its required count over its min (ScalingEvent). The parent keeps the last request of
// each child until its next round (dependentScalingLocked), as Stratos' parent monitors collect
// the scaling events between their runs.
func (a *Autoscaler) childScaleLocked(pi *parentInstance, c *childNode, factor float64) {
	d := &a.tree.deps
	reqs := d.factors[pi]
	if reqs == nil {
		reqs = map[string]float64{}
		d.factors[pi] = reqs
	}
	reqs[c.def.key] = factor
}

// dependentScalingLocked is the parent's round for its scaling dependents
// (ParentComponentMonitor#handleDependentScaling): for each set with requests since the last
// round, the highest factor among them goes down to every dependent of the set; the requests are
// then forgotten.
func (a *Autoscaler) dependentScalingLocked(pi *parentInstance, now time.Time) {
	a.groupScaleInLocked(pi, now)
	d := &a.tree.deps
	if len(d.factors[pi]) == 0 {
		return
	}
	reqs := d.factors[pi]
	for _, set := range pi.comp.scalingDependents {
		var got []FactorRequest
		for _, k := range set {
			if r, ok := reqs[k]; ok {
				got = append(got, FactorRequest{Child: k, Factor: r})
				delete(reqs, k)
			}
		}
		best, ok := HighestFactor(got)
		if !ok {
			continue
		}
		for _, k := range set {
			if n := pi.children[k]; n != nil {
				a.pushFactorLocked(n, best, now)
			}
		}
	}
	delete(d.factors, pi)
	a.signal() // the dependents' rounds are due now
}

// pushFactorLocked gives a dependent the factor: a cluster child's instance acts on it in its
// next round; a group child passes it to every cluster of its instances, at any depth
// (GroupMonitor#onParentScalingEvent).
func (a *Autoscaler) pushFactorLocked(n *childNode, best FactorRequest, now time.Time) {
	for _, gi := range n.groups {
		for _, c := range gi.children {
			a.pushFactorLocked(c, best, now)
		}
	}
	if n.clusterID == "" {
		return
	}
	in := a.instanceLocked(n.clusterID, n.instanceID)
	if in == nil || in.status == model.ClusterTerminating {
		return
	}
	in.pushed = pushedFactor{set: true, factor: best.Factor, from: best.Child}
	in.trigger = triggerEvent
	a.queue.schedule(in, now)
}

// dependentCheck is dependent-scaling.drl for a cluster instance its parent pushed a factor
// down to: start members up to min * factor (rounded with the policy's instanceRoundingFactor,
// within max), or terminate the lowest-loaded members down to it. The trace names the factor,
// where it came from and the count it gave.
func (r *run) dependentCheck(ctx context.Context) {
	in, tr := r.in, r.tr
	if !in.pushed.set || !r.own {
		return
	}
	p := in.pushed
	in.pushed = pushedFactor{}
	rounding := 0.0
	if r.pol != nil {
		rounding = r.pol.InstanceRoundingFactor
	}
	target := DependentCount(in.min, in.max, p.factor, rounding)
	var loads []MemberLoad
	for i := range in.parts {
		for _, l := range [...]list{listPending, listActive} {
			for _, m := range in.parts[i].lists[l] {
				load := 0.0
				if m.hasStats {
					load = (m.la.predict() + m.mc.predict()) / 2
				}
				loads = append(loads, MemberLoad{ID: m.id, Load: load})
			}
		}
	}
	start, terminate := DependentPlan(target, in.max, r.nonTerm, loads)
	tr.Limit = LimitScalingDependents
	why := "scaling dependents: factor " + strconv.FormatFloat(p.factor, 'g', 4, 64) + " from " + p.from +
		" gives " + strconv.Itoa(target) + " members (min " + strconv.Itoa(in.min) + ", instanceRoundingFactor " +
		strconv.FormatFloat(rounding, 'g', 4, 64) + ")"
	switch {
	case start > 0:
		n := r.start(ctx, ActionScaleUp, r.pickUp(start))
		r.nonTerm += n
		r.res.action, r.res.delta = ActionScaleUp, r.res.delta+n
	case len(terminate) > 0:
		for _, id := range terminate {
			m := r.a.members[id]
			if m == nil || m.in != in || !r.govern(ctx, ActionScaleDown, -1, in.parts[m.part].id) {
				continue
			}
			tr.Steps = append(tr.Steps, Step{Check: "scale", Action: verb(r.act, "terminate"), Partition: in.parts[m.part].id, Member: id, Delta: -1})
			if r.act {
				r.a.terminateMemberLocked(m, r.now)
			}
			r.nonTerm--
			r.res.action, r.res.delta = ActionScaleDown, r.res.delta-1
		}
	}
	r.res.reason, r.dependent = why, why
}

// childMaxLocked is called when a cluster child of pi wants more members than its max
// (ScalingUpBeyondMax), or a group child could not take another instance. A group instance
// whose group scales (groupMaxInstances > 1) gets a sibling instance, once no instance of the
// group is still starting; otherwise the request goes up, and at the application instance the
// application bursts into the next network partition of its policy (one-after-another).
func (a *Autoscaler) childMaxLocked(pi *parentInstance, c *childNode, now time.Time) {
	if pi.status == statusTerminating || pi.status == statusTerminated {
		return
	}
	if pi.owner != nil {
		node, parent := pi.owner, pi.parent
		if GroupScaleOut(len(node.groups), pi.comp.max) {
			for _, g := range node.groups {
				if g.status == statusCreated {
					a.recordTreeLocked(pi, c.def, now, LimitGroupScaling, c.def.key+" wants more than its max"+inWhere(pi)+
						"; group "+pi.comp.alias+" instance "+g.id+" is still starting, so no other instance is created yet")
					return
				}
			}
			pi.app.groupSeq++
			id := model.InstanceID(parent.id, pi.app.groupSeq)
			a.recordTreeLocked(pi, c.def, now, LimitGroupScaling, c.def.key+" wants more than its max"+inWhere(pi)+
				"; group scaling (groupMaxInstances "+strconv.Itoa(pi.comp.max)+") creates group instance "+id)
			a.newGroupInstanceLocked(node, id, now)
			return
		}
		if parent != nil {
			a.childMaxLocked(parent, node, now)
		}
		return
	}
	a.burstLocked(pi, c, now)
}

// burstLocked creates application instances in the next network partitions of the application
// policy (BurstPartitions), once no application instance is still starting.
func (a *Autoscaler) burstLocked(pi *parentInstance, c *childNode, now time.Time) {
	am := pi.app
	why := c.def.key + " wants more than its max" + inWhere(pi) + "; "
	for _, ai := range am.instances {
		if ai.status == statusCreated {
			a.recordTreeLocked(pi, c.def, now, LimitBursting, why+"application instance "+ai.id+" is still starting, so the application does not burst yet")
			return
		}
	}
	var next []string
	if src := a.opts.Policies; src != nil && am.def != nil {
		if ap, ok := src.Set().Application(am.def.ApplicationPolicyID); ok {
			next = BurstPartitions(ap, am.nps)
		}
	}
	if len(next) == 0 {
		a.recordTreeLocked(pi, c.def, now, LimitBursting, why+"no network partition is left to burst into")
		return
	}
	for _, np := range next {
		id := model.InstanceID(am.id, len(am.nps)+1)
		a.recordTreeLocked(pi, c.def, now, LimitBursting, why+"the application bursts into network partition "+np+" (instance "+id+")")
		am.nps = append(am.nps, np)
		a.newAppInstanceLocked(am, id, np, now)
	}
}

// groupsToMinLocked creates group instances of a group child of pi until it has the group's
// groupMinInstances (a live update that raised it); the new ones follow the instance ids of
// group scaling. A lower minimum leaves the running instances alone.
func (a *Autoscaler) groupsToMinLocked(pi *parentInstance, c *childNode, now time.Time) {
	if pi.status == statusTerminating || pi.status == statusTerminated {
		return
	}
	for n := len(c.groups); n < c.def.group.min; n++ {
		pi.app.groupSeq++
		id := model.InstanceID(pi.id, pi.app.groupSeq)
		a.recordTreeLocked(pi, c.def, now, LimitGroupScaling, "group "+c.def.alias+inWhere(pi)+" has "+strconv.Itoa(n)+
			" instances, below its groupMinInstances "+strconv.Itoa(c.def.group.min)+" after an update; creating group instance "+id)
		a.newGroupInstanceLocked(c, id, now)
	}
}

// andReason adds a reason to the one the round has so far (the dependent check's comes first).
func andReason(so, more string) string {
	if so == "" {
		return more
	}
	return so + "; " + more
}

// treeBelowMinLocked tells the tree that a cluster instance at its min wants to scale down
// (ScalingDownBeyondMin): its group instance notes it for the parent's round.
func (a *Autoscaler) treeBelowMinLocked(in *instance, now time.Time) {
	pi, node := a.parentOfLocked(in)
	if pi == nil || pi.owner == nil {
		return // the application instance is not scaled in (Stratos only terminates burst instances)
	}
	d := &a.tree.deps
	if d.downs[pi] == nil {
		d.downs[pi] = map[string]bool{}
	}
	d.downs[pi][node.def.key] = true
}

// groupScaleInLocked is the group instance's part of the parent's round
// (GroupMonitor#handleScalingDownBeyondMin): when every child of the group instance asked to scale
// down below its min since the last round, and the group has more instances than its
// groupMinInstances, the group instance terminates and is not created again. The requests are
// then forgotten.
func (a *Autoscaler) groupScaleInLocked(gi *parentInstance, now time.Time) {
	d := &a.tree.deps
	if gi.owner == nil {
		return
	}
	downs := d.downs[gi]
	delete(d.downs, gi)
	if len(downs) == 0 || gi.status != statusActive {
		return
	}
	for _, cd := range gi.comp.children {
		if !downs[cd.key] {
			return
		}
	}
	node := gi.owner
	live := 0
	var last *parentInstance
	for _, g := range node.groups {
		if g.status != statusTerminating && g.status != statusTerminated {
			live, last = live+1, g
		}
	}
	if live <= gi.comp.min || gi != last {
		return // the newest instance goes first
	}
	d.scaledIn[gi] = true
	for _, cd := range gi.comp.children {
		a.recordTreeLocked(gi, cd, now, LimitGroupScaling, "every child of group "+gi.comp.alias+" instance "+gi.id+
			" is at its min and wants fewer members, and the group has "+strconv.Itoa(live)+" instances (groupMinInstances "+
			strconv.Itoa(gi.comp.min)+"): the group instance terminates")
	}
	a.terminateInstanceLocked(gi, true, now)
}
