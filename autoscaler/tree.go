package autoscaler

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// The monitor tree (§4.10): an application monitor per application, one application instance
// per network partition, group instances below it and cluster instances (the monitors of
// state.go) at the leaves. A child of an application or group instance is created only once the
// children its startup orders put before it are Active; status flows up from the cluster
// instances (topology events) to the group and application instances, whose changes are
// published on application/*. Files: tree.go (the types and the API the manager calls),
// tree_status.go (children's creation in startup order and the status machines),
// tree_events.go (the application events, CompleteApplicationsEvent), tree_hooks.go (what a
// parent does when a child goes Inactive, wants to scale or hits its max).

// ApplicationSpec is an application as the monitor tree needs it: the Stratos application
// structure (groups by alias, cluster ids per alias, dependency orders; the manager builds it
// from the application and its cartridge groups) and, for every cluster of it, the spec its
// cluster instances get (InstanceID and NetworkPartition are left empty: the tree fills them).
type ApplicationSpec struct {
	App      *model.Application
	Clusters []ClusterSpec
}

// Child kinds in startup orders and child keys ("cartridge.<alias>", "group.<alias>").
const (
	childCartridge = "cartridge."
	childGroup     = "group."
)

// appMonitor is Stratos' ApplicationMonitor: one added application, its definition and, while
// it is deployed, its application instances.
type appMonitor struct {
	id        string
	def       *model.Application
	root      *component
	deployed  bool
	nps       []string          // the network partitions it was deployed to
	instances []*parentInstance // application instances, in creation order
	groupSeq  int               // instance ids of group instances beyond the first (group scaling)
}

// component is the static part of an application or group: its children in startup order and
// their dependencies. The application's component has no group.
type component struct {
	alias    string       // the group alias; "" for the application
	group    *model.Group // nil for the application
	children []*childDef  // cartridges, then groups, as defined
	byKey    map[string]*childDef
	// Dependencies (DependencyOrder), resolved.
	behaviour         string     // terminate-none, terminate-all or terminate-dependents; "" is none
	scalingDependents [][]string // child keys that scale together
	min, max          int        // group instances per parent instance (groupMin/MaxInstances)
}

// childDef is one child of a component.
type childDef struct {
	key     string       // "cartridge.<alias>" or "group.<alias>"
	alias   string       // the alias alone
	cluster *ClusterSpec // a cartridge's cluster (InstanceID and NetworkPartition empty)
	group   *component   // a group's component
	after   []string     // keys of the children that must be Active before this one is created
}

// parentInstance is an application instance or a group instance: the instance of a
// ParentComponentMonitor, with the children created in it so far.
type parentInstance struct {
	app      *appMonitor
	comp     *component
	id       string
	np       string
	parent   *parentInstance // nil for an application instance
	owner    *childNode      // the group child this instance belongs to; nil for an application instance
	status   treeStatus
	stack    []treeStatus          // every status it had, for the instance's LifeCycleStateManager
	children map[string]*childNode // by key, once created
	waiting  map[string]string     // key -> why it is not created yet (startup order)
}

// childNode is a child created in a parent instance: a cluster instance or the group instances
// of a group (one, or more with group scaling).
type childNode struct {
	def    *childDef
	owner  *parentInstance
	status treeStatus
	// A cartridge child: its cluster instance (the monitor is in Autoscaler.clusters).
	clusterID, instanceID string
	// A group child: its group instances.
	groups []*parentInstance
}

// treeStatus is the status of a node: the names of Stratos' ClusterStatus, GroupStatus and
// ApplicationStatus, which are the same five.
type treeStatus string

// The node states.
const (
	statusCreated     treeStatus = "Created"
	statusActive      treeStatus = "Active"
	statusInactive    treeStatus = "Inactive"
	statusTerminating treeStatus = "Terminating"
	statusTerminated  treeStatus = "Terminated"
)

// treeKey is how a cluster instance finds its node in the tree.
type treeKey struct{ cluster, instance string }

// tree is the autoscaler's monitor tree; guarded by Autoscaler.mu.
type tree struct {
	apps     map[string]*appMonitor
	clusters map[treeKey]*childNode
	waits    map[string]model.Decision // by cluster id: the last startup-order wait (Decisions)
	deps     treeDeps                  // termination behaviour, scaling dependents (tree_hooks.go)
}

func newTree() tree {
	return tree{apps: map[string]*appMonitor{}, clusters: map[treeKey]*childNode{}, waits: map[string]model.Decision{},
		deps: treeDeps{recovering: map[*parentInstance]map[string]bool{}, recreate: map[*parentInstance]bool{},
			factors: map[*parentInstance]map[string]float64{}, downs: map[*parentInstance]map[string]bool{},
			scaledIn: map[*parentInstance]bool{}}}
}

// AddApplication adds an application to the tree (ApplicationCreatedEvent) or, when it is
// known, replaces its definition (ApplicationUpdatedEvent). Deployed instances keep running:
// children new to the definition are created in them when their startup order allows.
func (a *Autoscaler) AddApplication(spec ApplicationSpec) error {
	if spec.App == nil || spec.App.ID == "" {
		return fmt.Errorf("%w: application spec: the application id is required", ErrInvalid)
	}
	root, err := buildComponent(spec.App, "", nil, spec.Clusters)
	if err != nil {
		return fmt.Errorf("%w: application %s: %w", ErrInvalid, spec.App.ID, err)
	}
	now := a.clock.Now()
	a.mu.Lock()
	am := a.tree.apps[spec.App.ID]
	updated := am != nil
	if am == nil {
		am = &appMonitor{id: spec.App.ID}
		a.tree.apps[am.id] = am
	}
	am.def, am.root = spec.App, root
	if updated {
		a.publishLocked(&model.ApplicationUpdatedEvent{Application: a.applicationLocked(am)})
		for _, ai := range am.instances {
			a.updateInstanceLocked(ai, root, now)
		}
	} else {
		a.publishLocked(&model.ApplicationCreatedEvent{Application: a.applicationLocked(am)})
	}
	a.mu.Unlock()
	a.signal()
	return nil
}

// RemoveApplication forgets an application that is not deployed.
func (a *Autoscaler) RemoveApplication(appID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	am := a.tree.apps[appID]
	if am == nil {
		return
	}
	am.root.eachCluster(func(spec *ClusterSpec) { delete(a.tree.waits, spec.ClusterID) })
	delete(a.tree.apps, appID)
}

// DeployApplication creates an application instance in each network partition (instance ids
// <app>-1, <app>-2, ...; ApplicationInstanceCreatedEvent) and, in each, the children whose
// startup order allows it: the others follow as their predecessors become Active.
func (a *Autoscaler) DeployApplication(appID string, networkPartitions []string) error {
	if len(networkPartitions) == 0 {
		return fmt.Errorf("%w: deploy %s: no network partition", ErrInvalid, appID)
	}
	now := a.clock.Now()
	a.mu.Lock()
	am := a.tree.apps[appID]
	if am == nil {
		a.mu.Unlock()
		return fmt.Errorf("deploy %s: %w", appID, ErrNotFound)
	}
	for _, ai := range am.instances {
		if ai.status == statusTerminating || ai.status == statusTerminated {
			// Deployed again after a forced undeploy whose removal is still under way: the old
			// instances are done with.
			a.forgetInstancesLocked(am)
			break
		}
	}
	am.deployed, am.nps = true, append([]string(nil), networkPartitions...)
	for i, np := range networkPartitions {
		id := model.InstanceID(appID, i+1)
		if am.instance(id) != nil {
			continue // a resync: the instance exists
		}
		a.newAppInstanceLocked(am, id, np, now)
	}
	a.mu.Unlock()
	a.signal()
	return nil
}

// UndeployApplication terminates a deployed application through the tree. Without force (the
// undeploy begins): every application and group instance becomes Terminating, top-down
// (GroupInstanceTerminatingEvent; the manager publishes the application instance's), and the
// group instances become Terminated bottom-up as the controller reports their cluster
// instances Terminated. With force (the manager removed the clusters, or forces the undeploy):
// what is left becomes Terminated, bottom-up, then each application instance
// (ApplicationInstanceTerminatedEvent), and the events are published before it returns, so that
// they come before the manager's ApplicationDeletedEvent. It returns the number of application
// instances it had (none: the application was not deployed in the tree, e.g. an undeploy resumed
// after a restart).
func (a *Autoscaler) UndeployApplication(appID string, force bool) int {
	now := a.clock.Now()
	a.mu.Lock()
	am := a.tree.apps[appID]
	if am == nil {
		a.mu.Unlock()
		return 0
	}
	n := len(am.instances)
	for _, ai := range append([]*parentInstance(nil), am.instances...) {
		a.terminateInstanceLocked(ai, false, now)
	}
	if !force {
		a.mu.Unlock()
		return n
	}
	for _, ai := range append([]*parentInstance(nil), am.instances...) {
		a.finishLocked(ai, now)
		a.setInstanceStatusLocked(ai, statusTerminated)
		a.appInstanceTerminatedLocked(ai)
	}
	a.forgetInstancesLocked(am)
	a.mu.Unlock()
	a.Evaluate(context.Background()) // publishes the events now
	return n
}

// finishLocked makes every cluster instance below pi that is not Terminated yet Terminated, so
// that its group instances follow, bottom-up.
func (a *Autoscaler) finishLocked(pi *parentInstance, now time.Time) {
	for _, c := range pi.children {
		for _, gi := range c.groups {
			a.finishLocked(gi, now)
		}
		if c.clusterID != "" && c.status != statusTerminated {
			a.childStatusLocked(c, statusTerminated, now)
		}
	}
	a.statusCheckLocked(pi, now)
}

// treePoliciesLocked adds the policies of every cluster of the deployed applications to seen,
// those still waiting for their startup order too: their monitors need them once created.
func (a *Autoscaler) treePoliciesLocked(seen map[policies.Ref]bool) {
	for _, am := range a.tree.apps {
		if am.deployed {
			am.root.eachCluster(func(spec *ClusterSpec) {
				seen[policies.Ref{Kind: policies.KindAutoscaling, ID: spec.AutoscalePolicy}] = true
				seen[policies.Ref{Kind: policies.KindDeployment, ID: spec.DeploymentPolicy}] = true
			})
		}
	}
}

// forgetInstancesLocked drops an application's instances and their cluster nodes.
func (a *Autoscaler) forgetInstancesLocked(am *appMonitor) {
	var walk func(pi *parentInstance)
	walk = func(pi *parentInstance) {
		for _, c := range pi.children {
			if c.clusterID != "" {
				delete(a.tree.clusters, treeKey{c.clusterID, c.instanceID})
			}
			for _, g := range c.groups {
				walk(g)
			}
		}
	}
	for _, ai := range am.instances {
		walk(ai)
	}
	am.instances, am.deployed, am.nps = nil, false, nil
}

// newAppInstanceLocked creates an application instance in a network partition
// (ApplicationInstanceCreatedEvent) and its first children.
func (a *Autoscaler) newAppInstanceLocked(am *appMonitor, id, np string, now time.Time) {
	ai := newParentInstance(am, am.root, id, np)
	am.instances = append(am.instances, ai)
	a.publishLocked(&model.ApplicationInstanceCreatedEvent{ApplicationID: am.id, ApplicationInstance: appInstanceModel(ai)})
	a.startChildrenLocked(ai, now)
}

// newParentInstance is a new application or group instance of comp, Created, with no children.
func newParentInstance(am *appMonitor, comp *component, id, np string) *parentInstance {
	return &parentInstance{app: am, comp: comp, id: id, np: np, status: statusCreated,
		stack:    []treeStatus{statusCreated},
		children: map[string]*childNode{}, waiting: map[string]string{}}
}

// eachCluster calls f with the cluster spec of every cartridge of the component, at any depth.
func (c *component) eachCluster(f func(*ClusterSpec)) {
	for _, cd := range c.children {
		cd.eachCluster(f)
	}
}

// eachCluster calls f with the cluster spec of the cartridge cd or of every cartridge below the
// group cd, at any depth.
func (cd *childDef) eachCluster(f func(*ClusterSpec)) {
	if cd.cluster != nil {
		f(cd.cluster)
		return
	}
	cd.group.eachCluster(f)
}

func (am *appMonitor) instance(id string) *parentInstance {
	for _, ai := range am.instances {
		if ai.id == id {
			return ai
		}
	}
	return nil
}

// buildComponent resolves the children of an application (g nil) or group and their startup
// orders. clusters are the application's cluster specs, matched to cartridges by cluster id.
func buildComponent(app *model.Application, alias string, g *model.Group, clusters []ClusterSpec) (*component, error) {
	pc := &app.ParentComponent
	comp := &component{alias: alias, group: g, byKey: map[string]*childDef{}, min: 1, max: 1}
	var data map[string]model.ClusterDataHolder
	var groups map[string]*model.Group
	var order *model.DependencyOrder
	if g != nil {
		data, groups, order = g.AliasToClusterDataMap, g.AliasToGroupMap, g.DependencyOrder
		comp.min, comp.max = max(int(g.GroupMinInstances), 1), max(int(g.GroupMaxInstances), int(g.GroupMinInstances), 1)
	} else {
		data, groups, order = pc.AliasToClusterDataMap, pc.AliasToGroupMap, pc.DependencyOrder
	}
	var errs []error
	for _, al := range slices.Sorted(maps.Keys(data)) {
		d := data[al]
		var spec *ClusterSpec
		for i := range clusters {
			if clusters[i].ClusterID == d.ClusterID {
				spec = &clusters[i]
			}
		}
		if spec == nil {
			errs = append(errs, fmt.Errorf("cartridge %s: no cluster spec for cluster %s", al, d.ClusterID))
			continue
		}
		cd := &childDef{key: childCartridge + al, alias: al, cluster: spec}
		comp.children = append(comp.children, cd)
		comp.byKey[cd.key] = cd
	}
	for _, al := range slices.Sorted(maps.Keys(groups)) {
		sub, err := buildComponent(app, al, groups[al], clusters)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cd := &childDef{key: childGroup + al, alias: al, group: sub}
		comp.children = append(comp.children, cd)
		comp.byKey[cd.key] = cd
	}
	if order != nil {
		comp.behaviour = order.TerminationBehaviour
		for _, so := range order.StartupOrders {
			prev := ""
			for _, k := range so.StartupOrderComponentList {
				cd := comp.byKey[k]
				if cd == nil {
					errs = append(errs, fmt.Errorf("startup order: %s is not a child of %s", k, orApp(alias)))
					continue
				}
				if prev != "" && !slices.Contains(cd.after, prev) {
					cd.after = append(cd.after, prev)
				}
				prev = k
			}
		}
		for _, sd := range order.ScalingDependents {
			comp.scalingDependents = append(comp.scalingDependents, append([]string(nil), sd.ScalingDependentListComponents...))
		}
	}
	return comp, errors.Join(errs...)
}

func orApp(alias string) string {
	if alias == "" {
		return "the application"
	}
	return "group " + alias
}

// publishLocked queues an application event; the round publishes it, in order, with the
// cluster events (never with mu held).
func (a *Autoscaler) publishLocked(e model.Event) {
	a.work = append(a.work, action{kind: actPublish, event: e})
	a.signal()
}
