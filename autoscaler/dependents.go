package autoscaler

import (
	"cmp"
	"math"
	"slices"

	"github.com/strata-paas/strata/policies"
)

// The decisions of the application tree that do not depend on its state (docs/stratos-wire.md
// §4.10): the factor a scaling dependent gets and the member count it follows from, the dependent
// scaling rule, the siblings a termination behaviour terminates, group scaling and the network
// partitions an application bursts into. The tree (tree*.go) calls them with what it knows.

// ScalingFactor is the factor a cluster with scaling dependents sends its parent instead of
// scaling itself: required / min (§4.5). Stratos divides by min unguarded; a cluster with min 0
// sends its required count, as if min were 1.
func ScalingFactor(required, minMembers int) float64 {
	if minMembers <= 0 {
		return float64(required)
	}
	return float64(required) / float64(minMembers)
}

// DependentCount is the member count a scaling dependent with this min needs for the factor its
// parent pushed down (ClusterMonitor#onParentScalingEvent): min * factor, rounded up when its
// fractional part exceeds the autoscaling policy's instanceRoundingFactor and down otherwise. With
// the default 0 any fraction rounds up. The count stays within [min, max]; a max below min is
// ignored.
func DependentCount(minMembers, maxMembers int, factor, rounding float64) int {
	want := float64(minMembers) * factor
	whole := math.Floor(want)
	n := int(whole)
	if want-whole > rounding {
		n++
	}
	if maxMembers >= minMembers {
		n = min(n, maxMembers)
	}
	return max(n, minMembers)
}

// FactorRequest is a scaling dependent's request to its parent: the child (its alias) and the
// factor it wants.
type FactorRequest struct {
	Child  string
	Factor float64
}

// HighestFactor is the request the parent pushes down to every dependent of the set: the highest
// factor (the first of equal ones). ok is false without requests.
func HighestFactor(reqs []FactorRequest) (best FactorRequest, ok bool) {
	for i, r := range reqs {
		if i == 0 || r.Factor > best.Factor {
			best, ok = r, true
		}
	}
	return best, ok
}

// MemberLoad is a member of a scaling dependent with its overall load, (predicted LA +
// predicted MC)/2 as the scale-down picks by (§4.5).
type MemberLoad struct {
	ID   string
	Load float64
}

// DependentPlan is dependent-scaling.drl: toward target members, start members up to max or
// terminate the lowest-loaded members down to target. nonTerminated counts active and pending
// members; members are those that may be terminated. It returns the number to start or the
// members to terminate, lowest load first (the first of equal loads first).
func DependentPlan(target, maxMembers, nonTerminated int, members []MemberLoad) (start int, terminate []string) {
	switch {
	case target > nonTerminated:
		return max(min(target, maxMembers)-nonTerminated, 0), nil
	case target < nonTerminated:
		by := slices.Clone(members)
		slices.SortStableFunc(by, func(a, b MemberLoad) int { return cmp.Compare(a.Load, b.Load) })
		n := min(nonTerminated-target, len(by))
		for _, m := range by[:n] {
			terminate = append(terminate, m.ID)
		}
	}
	return 0, terminate
}

// TerminationBehaviour is a group's or application's dependencies.terminationBehaviour.
type TerminationBehaviour string

// The termination behaviours (AutoscalerConstants). An empty behaviour is terminate-none, as in
// Stratos, whose dependency tree then terminates nothing.
const (
	TerminateNone       TerminationBehaviour = "terminate-none"
	TerminateAll        TerminationBehaviour = "terminate-all"
	TerminateDependents TerminationBehaviour = "terminate-dependents"
)

// StartupDependents are the children that follow child in the startup orders, directly or
// through others, in the order they are first reached (orders, then positions). The children
// are written as in the orders ("cartridge.<alias>", "group.<alias>").
func StartupDependents(orders [][]string, child string) []string {
	var out []string
	seen := map[string]bool{child: true}
	next := []string{child}
	for len(next) > 0 {
		c := next[0]
		next = next[1:]
		for _, o := range orders {
			i := slices.Index(o, c)
			if i < 0 || i+1 >= len(o) || seen[o[i+1]] {
				continue
			}
			seen[o[i+1]] = true
			out = append(out, o[i+1])
			next = append(next, o[i+1])
		}
	}
	return out
}

// Termination is what a termination behaviour does when a child of a group or application
// instance goes Inactive (ParentComponentMonitor#onChildInactiveEvent).
type Termination struct {
	// Terminate are the children to terminate, in the order of children.
	Terminate []string
	// Whole is set when the whole group instance terminates (terminate-all): its parent recreates
	// it once it is Terminated.
	Whole bool
}

// TerminationFor is the termination behaviour's answer to child going Inactive among children:
//
//   - terminate-none: nothing; the child recovers by itself (its min check replaces the member).
//   - terminate-all: every child, and the group instance itself (Whole).
//   - terminate-dependents: the children that follow child in the startup orders and child itself,
//     so that they start again in order once all are Terminated; nothing when none follows it
//     (DependencyTree#getTerminationDependencies).
func TerminationFor(b TerminationBehaviour, orders [][]string, children []string, child string) Termination {
	switch b {
	case TerminateAll:
		return Termination{Terminate: slices.Clone(children), Whole: true}
	case TerminateDependents:
		deps := StartupDependents(orders, child)
		if len(deps) == 0 {
			return Termination{}
		}
		var out []string
		for _, c := range children {
			if c == child || slices.Contains(deps, c) {
				out = append(out, c)
			}
		}
		return Termination{Terminate: out}
	}
	return Termination{}
}

// GroupScaleOut reports whether a ScalingUpBeyondMax from a child of a group creates a new
// instance of the group: group scaling is on when groupMaxInstances > 1
// (DefaultApplicationParser), and the group has fewer instances than that in the network
// partition.
func GroupScaleOut(instances, groupMaxInstances int) bool {
	return groupMaxInstances > 1 && instances < groupMaxInstances
}

// BurstPartitions are the network partitions an application bursts into once the ones it uses
// are exhausted (ApplicationMonitor#handleApplicationBursting with OneAfterAnotherAlgorithm): the
// next network-partition group of the application policy after the last one in use, or without
// groups the next network partition after the last one in use. all-at-once uses every partition
// from the start, so there is nothing to burst into; neither is there after the last group.
func BurstPartitions(ap *policies.Application, inUse []string) []string {
	if ap == nil || ap.Algorithm == policies.AllAtOnce {
		return nil
	}
	if len(ap.Groups) > 0 {
		last := -1
		for i, g := range ap.Groups {
			for _, np := range g {
				if slices.Contains(inUse, np) {
					last = i
				}
			}
		}
		if last+1 >= len(ap.Groups) {
			return nil
		}
		return slices.Clone(ap.Groups[last+1])
	}
	last := -1
	for i, np := range ap.NetworkPartitions {
		if slices.Contains(inUse, np) {
			last = i
		}
	}
	if last+1 >= len(ap.NetworkPartitions) {
		return nil
	}
	return []string{ap.NetworkPartitions[last+1]}
}

// InitialPartitions are the network partitions an application's first instances are created in
// (ApplicationMonitor#createInstanceAndStartDependency): every partition with all-at-once; with
// one-after-another the first network-partition group, or the first partition without groups.
func InitialPartitions(ap *policies.Application) []string {
	switch {
	case ap == nil:
		return nil
	case ap.Algorithm == policies.AllAtOnce:
		return slices.Clone(ap.NetworkPartitions)
	case len(ap.Groups) > 0:
		return slices.Clone(ap.Groups[0])
	case len(ap.NetworkPartitions) > 0:
		return ap.NetworkPartitions[:1:1]
	}
	return nil
}
