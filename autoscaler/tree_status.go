package autoscaler

import (
	"slices"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// Children's creation in startup order and the status machines of the tree (Stratos'
// ParentComponentMonitor and its StatusChecker): a parent instance is Active when every child
// of its definition exists and is Active, Inactive when one goes Inactive (after the
// termination behaviour had its say, tree_hooks.go), Terminated when every child is Terminated
// after it began Terminating. Every function here runs with Autoscaler.mu held.

// startChildrenLocked creates the children of pi whose startup-order predecessors are all
// Active, and notes why each other one waits.
func (a *Autoscaler) startChildrenLocked(pi *parentInstance, now time.Time) {
	if pi.status == statusTerminating || pi.status == statusTerminated {
		return
	}
	for _, cd := range pi.comp.children {
		if pi.children[cd.key] != nil {
			continue
		}
		if wait := pi.waitingFor(cd); wait != "" {
			reason := "waiting for " + wait + " to be Active"
			if pi.waiting[cd.key] != reason {
				pi.waiting[cd.key] = reason
				a.recordWaitLocked(pi, cd, reason, now)
			}
			continue
		}
		delete(pi.waiting, cd.key)
		a.createChildLocked(pi, cd, now)
	}
}

// waitingFor is the first predecessor of cd in pi that is not Active, or "".
func (pi *parentInstance) waitingFor(cd *childDef) string {
	for _, k := range cd.after {
		if c := pi.children[k]; c == nil || c.status != statusActive {
			return k
		}
	}
	return ""
}

// createChildLocked creates a child in pi: the cluster instance's monitor (the min check starts
// its members; the controller announces the instance with the first one), or the group's
// minimum instances.
func (a *Autoscaler) createChildLocked(pi *parentInstance, cd *childDef, now time.Time) *childNode {
	node := &childNode{def: cd, owner: pi, status: statusCreated}
	pi.children[cd.key] = node
	if cd.cluster != nil {
		spec := *cd.cluster
		spec.InstanceID, spec.NetworkPartition = pi.id, pi.np
		node.clusterID, node.instanceID = spec.ClusterID, spec.InstanceID
		a.tree.clusters[treeKey{node.clusterID, node.instanceID}] = node
		in := a.registerLocked(spec, now)
		if tc := a.topo[spec.ClusterID]; tc != nil {
			a.learnMembersLocked(spec.ClusterID, tc, now)
			learnInstanceStatus(in, tc)
		}
		node.status = treeStatus(in.status)
		return node
	}
	for n := 0; n < cd.group.min; n++ {
		id := pi.id
		if n > 0 {
			pi.app.groupSeq++
			id = model.InstanceID(pi.id, pi.app.groupSeq)
		}
		a.newGroupInstanceLocked(node, id, now)
	}
	return node
}

// newGroupInstanceLocked creates a group instance of a group child (GroupInstanceCreatedEvent)
// and its first children.
func (a *Autoscaler) newGroupInstanceLocked(node *childNode, id string, now time.Time) *parentInstance {
	pi := node.owner
	gi := newParentInstance(pi.app, node.def.group, id, pi.np)
	gi.parent, gi.owner = pi, node
	node.groups = append(node.groups, gi)
	a.publishLocked(&model.GroupInstanceCreatedEvent{GroupID: node.def.alias, AppID: pi.app.id, GroupInstance: groupInstanceModel(gi)})
	a.startChildrenLocked(gi, now)
	a.statusCheckLocked(gi, now)
	return gi
}

// clusterStatusLocked takes a cluster instance's new status from the topology and lets it
// flow up the tree.
func (a *Autoscaler) clusterStatusLocked(clusterID, instanceID string, s model.ClusterStatus, now time.Time) {
	node := a.tree.clusters[treeKey{clusterID, instanceID}]
	if node == nil {
		return
	}
	a.childStatusLocked(node, treeStatus(s), now)
}

// childStatusLocked sets a child's status and lets the parent instance react: the termination
// behaviour when it went Inactive, the children waiting for it when it became Active, and the
// parent's own status.
func (a *Autoscaler) childStatusLocked(node *childNode, s treeStatus, now time.Time) {
	if node.status == s {
		return
	}
	node.status = s
	pi := node.owner
	if s == statusTerminated && node.clusterID != "" {
		delete(a.tree.clusters, treeKey{node.clusterID, node.instanceID})
	}
	if s == statusInactive && pi.status != statusTerminating && pi.status != statusTerminated {
		a.childInactiveLocked(pi, node, now)
	}
	if s == statusTerminated {
		a.childTerminatedLocked(pi, node, now)
	}
	a.startChildrenLocked(pi, now)
	a.statusCheckLocked(pi, now)
}

// groupChildStatus is a group child's status from its instances: Terminated when all are,
// Inactive when one is, Active when at least the group's minimum are Active, Terminating when
// one is, Created otherwise.
func groupChildStatus(node *childNode) treeStatus {
	active, terminated, terminating := 0, 0, 0
	for _, gi := range node.groups {
		switch gi.status {
		case statusInactive:
			return statusInactive
		case statusActive:
			active++
		case statusTerminated:
			terminated++
		case statusTerminating:
			terminating++
		}
	}
	switch {
	case len(node.groups) > 0 && terminated == len(node.groups):
		return statusTerminated
	case terminating > 0:
		return statusTerminating
	case active >= node.def.group.min && active > 0:
		return statusActive
	}
	return statusCreated
}

// statusCheckLocked recomputes pi's status from its children (StatusChecker) and, when it
// changed, publishes it and tells pi's parent.
func (a *Autoscaler) statusCheckLocked(pi *parentInstance, now time.Time) {
	to := pi.status
	switch pi.status {
	case statusTerminated:
		return
	case statusTerminating:
		if pi.owner == nil {
			return // an application instance is Terminated when the manager removed its clusters (UndeployApplication)
		}
		for _, c := range pi.children {
			if c.status != statusTerminated {
				return
			}
		}
		to = statusTerminated
	default:
		all, inactive := len(pi.children) == len(pi.comp.children), false
		for _, c := range pi.children {
			switch c.status {
			case statusActive:
			case statusInactive:
				inactive, all = true, false
			default:
				all = false
			}
		}
		switch {
		case inactive && pi.status == statusActive:
			to = statusInactive
		case all && pi.status != statusActive:
			to = statusActive
		}
	}
	if to == pi.status {
		return
	}
	a.setInstanceStatusLocked(pi, to)
	if pi.owner != nil && to == statusTerminated {
		a.groupInstanceTerminatedLocked(pi, now)
	}
	if pi.owner != nil {
		a.childStatusLocked(pi.owner, groupChildStatus(pi.owner), now)
	} else if to == statusTerminated {
		a.appInstanceTerminatedLocked(pi)
	}
}

// setInstanceStatusLocked moves pi to a status and publishes the matching event.
func (a *Autoscaler) setInstanceStatusLocked(pi *parentInstance, to treeStatus) {
	pi.status = to
	pi.stack = append(pi.stack, to)
	if e := instanceEvent(pi, to); e != nil {
		a.publishLocked(e)
	}
}

// terminateInstanceLocked makes pi Terminating, top-down: its group children too. With
// clusters, its cluster instances are told to terminate (ClusterStatusClusterTerminatingEvent;
// the monitor cleans up and terminates their members); without, the caller removes them (an
// undeploy: the controller does it).
func (a *Autoscaler) terminateInstanceLocked(pi *parentInstance, clusters bool, now time.Time) {
	if pi.status == statusTerminating || pi.status == statusTerminated {
		return
	}
	a.setInstanceStatusLocked(pi, statusTerminating)
	clear(pi.waiting)
	for _, cd := range pi.comp.children {
		c := pi.children[cd.key]
		if c == nil {
			continue
		}
		for _, gi := range c.groups {
			a.terminateInstanceLocked(gi, clusters, now)
		}
		if c.clusterID != "" && clusters {
			a.terminateClusterLocked(c, now)
		}
	}
	a.statusCheckLocked(pi, now)
}

// terminateClusterLocked has a cluster instance of the tree terminate: its monitor becomes
// Terminating (cleanup, then its members terminated; ClusterStatusClusterTerminatedEvent once
// none is left) and the controller is told (ClusterStatusClusterTerminatingEvent).
func (a *Autoscaler) terminateClusterLocked(c *childNode, now time.Time) {
	in := a.instanceLocked(c.clusterID, c.instanceID)
	if in == nil || in.status == model.ClusterTerminating {
		return
	}
	in.status = model.ClusterTerminating
	in.trigger = triggerEvent
	a.queue.schedule(in, now)
	a.publishLocked(&model.ClusterStatusClusterTerminatingEvent{ServiceName: in.c.service, ClusterID: in.c.id,
		AppID: in.c.app, InstanceID: in.id})
}

// appInstanceTerminatedLocked drops a terminated application instance; the application is
// undeployed in the tree once none is left.
func (a *Autoscaler) appInstanceTerminatedLocked(pi *parentInstance) {
	am := pi.app
	am.instances = slices.DeleteFunc(am.instances, func(ai *parentInstance) bool { return ai == pi })
	if len(am.instances) == 0 {
		am.deployed, am.nps = false, nil
	}
}

// updateInstanceLocked moves a running instance to a new definition: children keep their nodes
// by key, new children are created when their startup order allows.
func (a *Autoscaler) updateInstanceLocked(pi *parentInstance, comp *component, now time.Time) {
	pi.comp = comp
	for k, c := range pi.children {
		cd := comp.byKey[k]
		if cd == nil {
			continue // a child the definition lost keeps running until the application is undeployed
		}
		c.def = cd
		if cd.cluster != nil {
			spec := *cd.cluster // new min, max or policies
			spec.InstanceID, spec.NetworkPartition = c.instanceID, pi.np
			a.registerLocked(spec, now)
		}
		for _, gi := range c.groups {
			a.updateInstanceLocked(gi, cd.group, now)
		}
		if cd.group != nil {
			a.groupsToMinLocked(pi, c, now)
		}
	}
	a.startChildrenLocked(pi, now)
	a.statusCheckLocked(pi, now)
}

// ParentMonitorInterval is the period of the parent monitors' round (Stratos'
// ParentComponentMonitor, 60 s): checkTree.
const ParentMonitorInterval = time.Minute

// checkTree is the parent monitors' round: every application and group instance, bottom-up,
// creates the children its startup order allows and recomputes its status from its children.
// Events drive both as they come; the round catches what an event did not (a child whose
// predecessor's status arrived with a complete topology). It returns the instances checked.
func (a *Autoscaler) checkTree() int {
	now := a.clock.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	var walk func(pi *parentInstance)
	walk = func(pi *parentInstance) {
		for _, cd := range pi.comp.children {
			if c := pi.children[cd.key]; c != nil {
				for _, gi := range c.groups {
					walk(gi)
				}
			}
		}
		a.dependentScalingLocked(pi, now)
		a.startChildrenLocked(pi, now)
		a.statusCheckLocked(pi, now)
		n++
	}
	for _, am := range a.tree.apps {
		for _, ai := range am.instances {
			walk(ai)
		}
	}
	return n
}
