package autoscaler

import (
	"slices"
	"strings"
	"time"
)

// The parent's reactions to its children (§4.10), called with Autoscaler.mu held: termination
// behaviour, scaling dependents, group scaling and bursting. The decisions themselves are the
// state-free functions of dependents.go; what each one did goes into the decision trace of the
// clusters it touched (action "tree"), so that `strata explain` and the history show why a
// sibling was terminated or which factor a dependent got.

// ActionTree is the action of the decisions the application tree takes for a cluster instance:
// its termination by a termination behaviour, its recreation, the factor its scaling dependents
// pushed down, a new group instance or application instance.
const ActionTree = "tree"

// The limits (Trace.Limit) of the tree's decisions.
const (
	LimitTerminationBehaviour = "termination-behaviour"
	LimitScalingDependents    = "scaling-dependents"
	LimitGroupScaling         = "group-scaling"
	LimitBursting             = "bursting"
)

// treeDeps is the state of these reactions, apart from the tree's own.
type treeDeps struct {
	// recovering are the children of a parent instance that a termination behaviour terminated:
	// once every one of them is Terminated they are created again, in startup order.
	recovering map[*parentInstance]map[string]bool
	// recreate are the group instances terminate-all terminated: their parent creates them again
	// once they are Terminated.
	recreate map[*parentInstance]bool
	// factors are the scaling requests of each parent instance's scaling dependents, by child key.
	factors map[*parentInstance]map[string]float64
	// downs are the children of a group instance at their min that want to scale down
	// (ScalingDownBeyondMin), since the parent's last round.
	downs map[*parentInstance]map[string]bool
	// scaledIn are the group instances a scale-in terminates: they are dropped, not created again.
	scaledIn map[*parentInstance]bool
}

// childInactiveLocked is called when a child of pi (a cluster instance, or a group child whose
// instances went Inactive) became Inactive, before pi's status is recomputed. The termination
// behaviour of pi's component decides what happens to the siblings (TerminationFor):
// terminate-all terminates a group instance whole and its parent creates it again (an
// application instance, which has no parent, terminates its children and creates them again);
// terminate-dependents terminates the child and the children after it in the startup orders,
// which start again in order once all are Terminated; terminate-none leaves them.
func (a *Autoscaler) childInactiveLocked(pi *parentInstance, c *childNode, now time.Time) {
	comp := pi.comp
	b := TerminationBehaviour(comp.behaviour)
	if b == "" {
		b = TerminateNone
	}
	where := inWhere(pi)
	if !hasStartupDependents(pi, c.def.key) {
		a.recordTreeLocked(pi, c.def, now, LimitTerminationBehaviour, c.def.key+" went Inactive"+where+
			"; no child follows it in a startup order under terminate-all or terminate-dependents, so no sibling is terminated")
		return
	}
	t := TerminationFor(b, startupPairs(comp), childKeys(comp), c.def.key)
	if len(t.Terminate) == 0 {
		a.recordTreeLocked(pi, c.def, now, LimitTerminationBehaviour,
			c.def.key+" went Inactive"+where+"; "+string(b)+": no sibling is terminated")
		return
	}
	if t.Whole && pi.owner != nil {
		a.tree.deps.recreate[pi] = true
		reason := c.def.key + " went Inactive" + where + "; terminate-all: the group instance and every child terminate, then the group instance is created again"
		for _, cd := range comp.children {
			a.recordTreeLocked(pi, cd, now, LimitTerminationBehaviour, reason)
		}
		a.terminateInstanceLocked(pi, true, now)
		return
	}
	set := map[string]bool{}
	reason := c.def.key + " went Inactive" + where + "; " + string(b) + ": terminating " + strings.Join(t.Terminate, ", ") +
		", created again in startup order once all are Terminated"
	for _, k := range t.Terminate {
		n := pi.children[k]
		if n == nil {
			continue
		}
		set[k] = true
		a.recordTreeLocked(pi, n.def, now, LimitTerminationBehaviour, reason)
		if n.clusterID != "" {
			a.terminateClusterLocked(n, now)
		}
		for _, gi := range n.groups {
			a.terminateInstanceLocked(gi, true, now)
		}
	}
	if len(set) > 0 {
		a.tree.deps.recovering[pi] = set
	}
}

// hasStartupDependents is Stratos' condition for a child's Inactive to reach its parent's
// termination behaviour (Monitor#hasStartupDependents, ParentComponentMonitor#startMonitor): the
// parent instance's own monitor has startup dependents, or the parent's behaviour is terminate-all
// or terminate-dependents and some child follows this one in a startup order. A child nothing
// depends on is an "independent unit": it recovers alone.
func hasStartupDependents(pi *parentInstance, key string) bool {
	if pi.owner != nil && hasStartupDependents(pi.parent, pi.owner.def.key) {
		return true
	}
	switch TerminationBehaviour(pi.comp.behaviour) {
	case TerminateAll, TerminateDependents:
		return len(StartupDependents(startupPairs(pi.comp), key)) > 0
	}
	return false
}

// childTerminatedLocked is called when a child of pi became Terminated while pi is not
// terminating. When it was one of the children a termination behaviour terminated and all of
// them are Terminated now, they are dropped from pi: the startup order creates them again.
func (a *Autoscaler) childTerminatedLocked(pi *parentInstance, c *childNode, now time.Time) {
	d := &a.tree.deps
	if pi.status == statusTerminating || pi.status == statusTerminated {
		return
	}
	set := d.recovering[pi]
	if !set[c.def.key] {
		return
	}
	for k := range set {
		if n := pi.children[k]; n != nil && n.status != statusTerminated {
			return
		}
	}
	delete(d.recovering, pi)
	for _, cd := range pi.comp.children {
		if set[cd.key] {
			delete(pi.children, cd.key)
			a.recordTreeLocked(pi, cd, now, LimitTerminationBehaviour, "every child the termination behaviour terminated"+inWhere(pi)+
				" is Terminated; "+cd.key+" is created again in startup order")
		}
	}
}

// groupInstanceTerminatedLocked is called when a group instance became Terminated, before its
// group child's status is recomputed. A group instance terminate-all terminated is created
// again, with the same id, unless its parent is terminating.
func (a *Autoscaler) groupInstanceTerminatedLocked(gi *parentInstance, now time.Time) {
	d := &a.tree.deps
	delete(d.recovering, gi) // a terminated instance recovers nothing and scales nothing
	delete(d.factors, gi)
	delete(d.downs, gi)
	if d.scaledIn[gi] {
		delete(d.scaledIn, gi)
		if node := gi.owner; node != nil && len(node.groups) > 1 {
			node.groups = slices.DeleteFunc(node.groups, func(g *parentInstance) bool { return g == gi })
		}
		return
	}
	if !d.recreate[gi] {
		return
	}
	delete(d.recreate, gi)
	node, parent := gi.owner, gi.parent
	if parent == nil || parent.status == statusTerminating || parent.status == statusTerminated || parent.children[node.def.key] != node {
		return
	}
	node.groups = slices.DeleteFunc(node.groups, func(g *parentInstance) bool { return g == gi })
	for _, cd := range gi.comp.children {
		a.recordTreeLocked(gi, cd, now, LimitTerminationBehaviour, "group "+gi.comp.alias+" instance "+gi.id+
			" is Terminated after terminate-all; it is created again")
	}
	a.newGroupInstanceLocked(node, gi.id, now)
}

// parentOfLocked is the tree node of a cluster instance and the parent instance it belongs to;
// nil for a cluster outside the tree (registered alone).
func (a *Autoscaler) parentOfLocked(in *instance) (*parentInstance, *childNode) {
	node := a.tree.clusters[treeKey{in.c.id, in.id}]
	if node == nil {
		return nil, nil
	}
	return node.owner, node
}

// startupPairs are the startup orders of a component as pairs (predecessor, child).
func startupPairs(comp *component) [][]string {
	var out [][]string
	for _, cd := range comp.children {
		for _, p := range cd.after {
			out = append(out, []string{p, cd.key})
		}
	}
	return out
}

// childKeys are the keys of a component's children, in definition order.
func childKeys(comp *component) []string {
	out := make([]string, len(comp.children))
	for i, cd := range comp.children {
		out[i] = cd.key
	}
	return out
}

// inWhere names a parent instance in a reason: " in group G instance I" or " in application
// instance I".
func inWhere(pi *parentInstance) string {
	if pi.owner != nil {
		return " in group " + pi.comp.alias + " instance " + pi.id
	}
	return " in application instance " + pi.id
}

// recordTreeLocked records a decision of the tree for every cluster at or below child cd of pi:
// the cluster's decision trace says what the tree did and why.
func (a *Autoscaler) recordTreeLocked(pi *parentInstance, cd *childDef, now time.Time, limit, reason string) {
	cd.eachCluster(func(spec *ClusterSpec) {
		d := a.treeDecisionLocked(spec, pi, ActionTree, limit, reason, now)
		if in := a.instanceLocked(d.ClusterID, pi.id); in != nil {
			d.Active, d.NonTerminated = in.count(listActive), in.nonTerminated()
			in.keep(d)
		}
		a.queueDecisionLocked(d)
	})
}
