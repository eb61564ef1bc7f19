package manager

import (
	"maps"
	"slices"
	"strings"

	"github.com/strata-paas/strata/internal/model"
)

// The runtime view from the autoscaler's monitor tree (§5.11): application instances with their
// group instances nested as Stratos shows them, each with the cluster instances of its own
// cartridges, and the statuses the tree gives them. Without the tree (a Scaler that has none)
// the view stays the flat one built from the topology.

type groupInstance struct {
	ParentInstanceID string            `json:"parentInstanceId"`
	GroupID          string            `json:"groupId"`
	InstanceID       string            `json:"instanceId"`
	Status           string            `json:"status"`
	GroupInstances   []any             `json:"groupInstances"`
	ClusterInstances []clusterInstance `json:"clusterInstances"`
}

// runtimeTree rebuilds info's application instances from the tree when the application is
// deployed there; clusters are the cluster instance beans by cluster id and instance id.
func (s *Server) runtimeTree(info *applicationInfoBean, a *applicationRecord, clusters map[[2]string]clusterInstance) {
	v, ok := s.opts.Scaler.(applicationsView)
	if !ok || a.Status != statusDeployed {
		return
	}
	app := v.Applications().ApplicationMap[a.Bean.ApplicationID]
	if app == nil || len(app.InstanceIDToInstanceContextMap) == 0 {
		return
	}
	out := make([]applicationInstance, 0, len(app.InstanceIDToInstanceContextMap))
	status := ""
	for _, id := range slices.Sorted(maps.Keys(app.InstanceIDToInstanceContextMap)) {
		ai := app.InstanceIDToInstanceContextMap[id]
		st := string(ai.Status())
		if status == "" || status == string(model.ApplicationActive) {
			status = st // Active when every instance is; otherwise the first one that is not
		}
		out = append(out, applicationInstance{Status: st, InstanceID: id, ApplicationID: app.ID,
			GroupInstances:   treeGroups(app.AliasToGroupMap, id, clusters),
			ClusterInstances: treeClusters(app.AliasToClusterDataMap, id, clusters)})
	}
	info.ApplicationInstances, info.Status = out, status
}

// treeGroups are the group instances of groups whose parent is the instance parentID.
func treeGroups(groups map[string]*model.Group, parentID string, clusters map[[2]string]clusterInstance) []any {
	out := []any{}
	for _, al := range slices.Sorted(maps.Keys(groups)) {
		g := groups[al]
		ids := make([]string, 0, len(g.InstanceIDToInstanceContextMap))
		for id, gi := range g.InstanceIDToInstanceContextMap {
			if gi.ParentID == parentID {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for _, id := range ids {
			gi := g.InstanceIDToInstanceContextMap[id]
			out = append(out, groupInstance{ParentInstanceID: parentID, GroupID: al, InstanceID: id, Status: string(gi.Status()),
				GroupInstances: treeGroups(g.AliasToGroupMap, id, clusters), ClusterInstances: treeClusters(g.AliasToClusterDataMap, id, clusters)})
		}
	}
	return out
}

// treeClusters are the cluster instances, of the cartridges in data, whose instance id is id.
func treeClusters(data map[string]model.ClusterDataHolder, id string, clusters map[[2]string]clusterInstance) []clusterInstance {
	out := []clusterInstance{}
	for _, d := range data {
		if ci, ok := clusters[[2]string{d.ClusterID, id}]; ok {
			out = append(out, ci)
		}
	}
	slices.SortFunc(out, func(x, y clusterInstance) int { return strings.Compare(x.ClusterID, y.ClusterID) })
	return out
}
