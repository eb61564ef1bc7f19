package autoscaler

import "time"

// The parent's reactions to its children (§4.10), called with Autoscaler.mu held. These are
// the hook points of termination behaviour, scaling dependents, group scaling and bursting;
// the defaults here only let the status flow up.

// childInactiveLocked is called when a child of pi (a cluster instance, or a group child whose
// instances went Inactive) became Inactive, before pi's status is recomputed. The termination
// behaviour of pi's component (pi.comp.behaviour) decides what happens to the siblings.
func (a *Autoscaler) childInactiveLocked(pi *parentInstance, c *childNode, now time.Time) {}

// childScaleLocked is called when a cluster child of pi wants to scale: factor is its required
// count over its min (ScalingEvent). The parent pushes the highest factor of the scaling
// dependents down.
func (a *Autoscaler) childScaleLocked(pi *parentInstance, c *childNode, factor float64, now time.Time) {
}

// childMaxLocked is called when a cluster child of pi wants more members than its max
// (ScalingUpBeyondMax): group scaling creates a new group instance, the application bursts into
// the next network partition.
func (a *Autoscaler) childMaxLocked(pi *parentInstance, c *childNode, now time.Time) {}

// parentOfLocked is the tree node of a cluster instance and the parent instance it belongs to;
// nil for a cluster outside the tree (registered alone).
func (a *Autoscaler) parentOfLocked(in *instance) (*parentInstance, *childNode) {
	node := a.tree.clusters[treeKey{in.c.id, in.id}]
	if node == nil {
		return nil, nil
	}
	return node.owner, node
}
