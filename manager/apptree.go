package manager

import (
	"fmt"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// The application in the autoscaler's monitor tree (§4.10). The manager gives the tree every
// application as it is added (ApplicationCreatedEvent, CompleteApplicationsEvent) and deploys and
// undeploys through it: the tree creates the cluster and group instances in startup order and
// publishes the application events. Options.Scaler has applicationTree when it is the autoscaler
// (strata up); without it (tests with a fake), deploy registers every cluster instance at once.

// applicationTree is the autoscaler's monitor tree.
type applicationTree interface {
	AddApplication(app ApplicationTree) error
	RemoveApplication(appID string)
	DeployApplication(appID string, networkPartitions []string) error
	UndeployApplication(appID string, force bool) int
}

// applicationsLoaded is told when resync has given the tree every application.
type applicationsLoaded interface {
	ApplicationsLoaded()
}

// applicationsView is the tree's picture of the applications with their instances (runtime).
type applicationsView interface {
	Applications() *model.Applications
}

// ApplicationTree is an application as the monitor tree takes it: the Stratos application
// structure and the template of each of its clusters' instances (no InstanceID or
// NetworkPartition: the tree fills them). cmd adapts it to autoscaler.ApplicationSpec.
type ApplicationTree struct {
	App      *model.Application
	Clusters []ClusterInstance
}

func (s *Server) tree() (applicationTree, bool) {
	t, ok := s.opts.Scaler.(applicationTree)
	return t, ok
}

// addToTree gives the tree the application (added or updated). Called with s.mu held.
func (s *Server) addToTree(a *applicationRecord) error {
	t, ok := s.tree()
	if !ok {
		return nil
	}
	at, err := s.applicationTree(a)
	if err != nil {
		return err
	}
	return t.AddApplication(at)
}

// applicationTree builds the Stratos application structure of a: groups by alias with their
// definitions' dependencies, the cluster data of every cartridge alias, and the cluster
// templates.
func (s *Server) applicationTree(a *applicationRecord) (ApplicationTree, error) {
	clusters, err := s.buildClusters(a, &policies.Application{NetworkPartitions: []string{""}})
	if err != nil {
		return ApplicationTree{}, err
	}
	byAlias := map[string]ClusterInstance{}
	for _, c := range clusters {
		t := c.Instances[0]
		t.InstanceID, t.NetworkPartition = "", ""
		byAlias[c.Alias] = t
	}
	b := &a.Bean
	app := &model.Application{ID: b.ApplicationID, Name: b.Name, Description: b.Description, Key: a.Key,
		TenantID: model.Int(a.TenantID), TenantDomain: a.TenantDomain, TenantAdminUserName: a.Owner,
		ApplicationPolicyID: a.ApplicationPolicy}
	app.AliasToClusterDataMap, app.AliasToDeploymentPolicyIDMap = clusterData(b.Components.Cartridges, byAlias)
	app.DependencyOrder = dependencyOrder(b.Components.Dependencies)
	groups, err := s.groupModels(b.ApplicationID, b.Components.Groups, byAlias, nil)
	if err != nil {
		return ApplicationTree{}, err
	}
	app.AliasToGroupMap = groups
	out := ApplicationTree{App: app}
	for _, c := range clusters {
		out.Clusters = append(out.Clusters, byAlias[c.Alias])
	}
	return out, nil
}

func clusterData(cs []cartridgeRef, byAlias map[string]ClusterInstance) (map[string]model.ClusterDataHolder, map[string]string) {
	if len(cs) == 0 {
		return nil, nil
	}
	data := make(map[string]model.ClusterDataHolder, len(cs))
	policies := make(map[string]string, len(cs))
	for _, c := range cs {
		t := byAlias[c.SubscribableInfo.Alias]
		data[c.SubscribableInfo.Alias] = model.ClusterDataHolder{ServiceType: c.Type, ClusterID: t.ClusterID,
			MinInstances: model.Int(t.Min), MaxInstances: model.Int(t.Max)}
		policies[c.SubscribableInfo.Alias] = t.DeploymentPolicy
	}
	return data, policies
}

func dependencyOrder(d *dependencies) *model.DependencyOrder {
	if d == nil {
		return nil
	}
	out := &model.DependencyOrder{TerminationBehaviour: d.TerminationBehaviour}
	for _, o := range d.StartupOrders {
		out.StartupOrders = append(out.StartupOrders, model.StartupOrder{StartupOrderComponentList: append([]string(nil), o.Aliases...)})
	}
	for _, o := range d.ScalingDependents {
		out.ScalingDependents = append(out.ScalingDependents, model.ScalingDependentList{ScalingDependentListComponents: append([]string(nil), o.Aliases...)})
	}
	return out
}

// groupModels builds the groups of an application or group. The dependencies of a group are its
// definition's (the registered cartridge group, or the nested definition of the enclosing
// group's definition, parent).
func (s *Server) groupModels(appID string, refs []groupRef, byAlias map[string]ClusterInstance, parent *cartridgeGroup) (map[string]*model.Group, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	out := make(map[string]*model.Group, len(refs))
	for i := range refs {
		r := &refs[i]
		def := s.groupDefinition(r.Name, parent)
		if def == nil {
			return nil, fmt.Errorf("group %s (alias %s): no such cartridge group", r.Name, r.Alias)
		}
		g := &model.Group{Name: r.Name, Alias: r.Alias, GroupMinInstances: r.GroupMinInstances,
			GroupMaxInstances: r.GroupMaxInstances, ApplicationID: appID}
		g.AliasToClusterDataMap, g.AliasToDeploymentPolicyIDMap = clusterData(r.Cartridges, byAlias)
		g.DependencyOrder = dependencyOrder(def.Dependencies)
		g.DeploymentPolicy = r.DeploymentPolicy
		g.IsGroupScalingEnabled = model.Bool(r.GroupMaxInstances > 1)
		sub, err := s.groupModels(appID, r.Groups, byAlias, def)
		if err != nil {
			return nil, err
		}
		g.AliasToGroupMap = sub
		out[r.Alias] = g
	}
	return out, nil
}

// groupDefinition finds a cartridge group by name: registered, or nested in parent's definition.
func (s *Server) groupDefinition(name string, parent *cartridgeGroup) *cartridgeGroup {
	var g cartridgeGroup
	if s.store.get(bucketGroups, name, &g) == nil {
		return &g
	}
	if parent != nil {
		for i := range parent.Groups {
			if parent.Groups[i].Name == name {
				return &parent.Groups[i]
			}
		}
	}
	return nil
}
