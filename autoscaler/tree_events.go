package autoscaler

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// The tree's side of the bus: the application events (§1.5.4) as Stratos' autoscaler writes
// them, the Applications structure they and CompleteApplicationsEvent carry, and the startup
// order's decisions.

// CompleteApplicationsInterval is how often Run publishes CompleteApplicationsEvent, as Stratos'
// autoscaler does; a CompleteApplicationsRequestEvent is answered at once.
const CompleteApplicationsInterval = time.Minute

// ActionWaiting is the action of a decision that records why a child of an application or
// group is not created yet (its startup order); LimitStartupOrder is its trace's limit.
const (
	ActionWaiting     = "waiting"
	LimitStartupOrder = "startup-order"
)

// instanceEvent is the event of an application or group instance's move to a status.
func instanceEvent(pi *parentInstance, to treeStatus) model.Event {
	if pi.owner == nil {
		ev := model.ApplicationInstanceActivatedEvent{AppID: pi.app.id, InstanceID: pi.id}
		switch to {
		case statusActive:
			return &ev
		case statusInactive:
			e := model.ApplicationInstanceInactivatedEvent(ev)
			return &e
		case statusTerminated:
			e := model.ApplicationInstanceTerminatedEvent(ev)
			return &e
		}
		// Terminating is the manager's: it publishes it when the undeploy begins, before the
		// clusters' own events.
		return nil
	}
	ev := model.GroupInstanceActivatedEvent{GroupID: pi.comp.alias, AppID: pi.app.id, InstanceID: pi.id}
	switch to {
	case statusActive:
		return &ev
	case statusInactive:
		e := model.GroupInstanceInactivatedEvent(ev)
		return &e
	case statusTerminating:
		e := model.GroupInstanceTerminatingEvent(ev)
		return &e
	case statusTerminated:
		e := model.GroupInstanceTerminatedEvent(ev)
		return &e
	}
	return nil
}

func appInstanceModel(pi *parentInstance) *model.ApplicationInstance {
	ai := &model.ApplicationInstance{InstanceID: pi.id, NetworkPartitionID: pi.np}
	ai.LifeCycleStateManager.Identifier = pi.app.id + "_" + pi.id
	for _, s := range pi.stack {
		ai.LifeCycleStateManager.Push(model.ApplicationStatus(s))
	}
	return ai
}

func groupInstanceModel(pi *parentInstance) *model.GroupInstance {
	gi := &model.GroupInstance{Alias: pi.comp.alias, InstanceID: pi.id, ParentID: pi.parent.id, NetworkPartitionID: pi.np}
	gi.LifeCycleStateManager.Identifier = pi.comp.alias + "_" + pi.id
	for _, s := range pi.stack {
		gi.LifeCycleStateManager.Push(model.GroupStatus(s))
	}
	return gi
}

// applicationLocked is the application as the application events carry it: its definition
// with the instances of the application and of each group.
func (a *Autoscaler) applicationLocked(am *appMonitor) *model.Application {
	out := *am.def
	out.ParentComponent = copyParent(am.def.ParentComponent)
	out.InstanceIDToInstanceContextMap = nil
	for _, ai := range am.instances {
		if out.InstanceIDToInstanceContextMap == nil {
			out.InstanceIDToInstanceContextMap = map[string]*model.ApplicationInstance{}
		}
		out.InstanceIDToInstanceContextMap[ai.id] = appInstanceModel(ai)
		addGroupInstances(out.AliasToGroupMap, ai)
	}
	out.InstanceIDSequence = model.Int(len(am.instances))
	return &out
}

// copyParent copies a ParentComponent's groups, deeply, so that instances can be filled in.
func copyParent[S model.State[S]](pc model.ParentComponent[S]) model.ParentComponent[S] {
	out := pc
	if pc.AliasToGroupMap != nil {
		out.AliasToGroupMap = make(map[string]*model.Group, len(pc.AliasToGroupMap))
		for al, g := range pc.AliasToGroupMap {
			cp := *g
			cp.ParentComponent = copyParent(g.ParentComponent)
			cp.InstanceIDToInstanceContextMap = nil
			out.AliasToGroupMap[al] = &cp
		}
	}
	return out
}

// addGroupInstances puts the group instances below pi into the groups of the copy.
func addGroupInstances(groups map[string]*model.Group, pi *parentInstance) {
	for _, c := range pi.children {
		if c.def.group == nil {
			continue
		}
		g := groups[c.def.alias]
		if g == nil {
			continue
		}
		for _, gi := range c.groups {
			if g.InstanceIDToInstanceContextMap == nil {
				g.InstanceIDToInstanceContextMap = map[string]*model.GroupInstance{}
			}
			g.InstanceIDToInstanceContextMap[gi.id] = groupInstanceModel(gi)
			addGroupInstances(g.AliasToGroupMap, gi)
		}
	}
}

// Applications returns every application of the tree with its instances, as
// CompleteApplicationsEvent carries them.
func (a *Autoscaler) Applications() *model.Applications {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := &model.Applications{ApplicationMap: make(map[string]*model.Application, len(a.tree.apps)), Initialized: true}
	for id, am := range a.tree.apps {
		out.ApplicationMap[id] = a.applicationLocked(am)
	}
	return out
}

// publishApplications publishes CompleteApplicationsEvent at once, on every request, and every
// CompleteApplicationsInterval until ctx ends.
func (a *Autoscaler) publishApplications(ctx context.Context, b eventBus, requests <-chan struct{}) {
	if a.opts.AwaitApplications {
		select {
		case <-a.loaded:
		case <-ctx.Done():
			return
		}
	}
	t := time.NewTicker(CompleteApplicationsInterval)
	defer t.Stop()
	for {
		if err := b.PublishEvent(ctx, &model.CompleteApplicationsEvent{Applications: a.Applications()}); err != nil && ctx.Err() == nil {
			a.stats.publishErrors.Add(1)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-requests:
		}
	}
}

// ApplicationsLoaded says that the manager has given the tree every application it keeps
// (Options.AwaitApplications): CompleteApplicationsEvent may be published from now on.
func (a *Autoscaler) ApplicationsLoaded() { a.loadedOnce.Do(func() { close(a.loaded) }) }

// recordWaitLocked records why a child is not created yet, as a decision of each cluster it
// would create (a group's: every cluster below it), so that `strata explain` shows it.
func (a *Autoscaler) recordWaitLocked(pi *parentInstance, cd *childDef, reason string, now time.Time) {
	if cd.group != nil {
		reason = "group " + cd.alias + " " + reason
	}
	if pi.owner != nil {
		reason += " in group " + pi.comp.alias + " instance " + pi.id
	}
	cd.eachCluster(func(spec *ClusterSpec) { a.recordWaitDecisionLocked(spec, pi, reason, now) })
}

func (a *Autoscaler) recordWaitDecisionLocked(spec *ClusterSpec, pi *parentInstance, reason string, now time.Time) {
	d := a.treeDecisionLocked(spec, pi, ActionWaiting, LimitStartupOrder, reason, now)
	a.tree.waits[spec.ClusterID] = d
	a.queueDecisionLocked(d)
}

// treeDecisionLocked counts and returns a decision of the tree (ActionWaiting, ActionTree) for
// the cluster of spec in pi; its trace names the limit.
func (a *Autoscaler) treeDecisionLocked(spec *ClusterSpec, pi *parentInstance, action, limit, reason string, now time.Time) model.Decision {
	a.stats.decisions.Add(1)
	a.metrics.decision("enforce", action)
	tr, _ := json.Marshal(Trace{Trigger: limit, Status: string(model.ClusterCreated), Policy: spec.AutoscalePolicy,
		Mode: "enforce", Deployment: spec.DeploymentPolicy, Limit: limit})
	return model.Decision{
		ID:   spec.ClusterID + "-" + a.idBase + strconv.FormatUint(a.seq.Add(1), 36),
		Time: now, ClusterID: spec.ClusterID, ClusterInstanceID: pi.id, NetworkPartitionID: pi.np,
		Policy: spec.AutoscalePolicy, Mode: "enforce", Action: action, Reason: reason, Trace: tr,
	}
}
