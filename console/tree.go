package console

import (
	"strings"

	"github.com/strata-paas/strata/internal/model"
)

// The application tree: application instance → group instances → clusters → members.

type instanceView struct {
	ID, Status string
	Groups     []groupView
	Clusters   []clusterView
}

type groupView struct {
	Alias, Name string
	Min, Max    int
	Groups      []groupView
	Clusters    []clusterView
}

type clusterView struct {
	Alias, ServiceName, ClusterID string
	InstanceID, Status            string
	Min, Max                      int
	Active, NonTerminated         int
	AccessURLs                    []string
	Members                       []member
	Failure                       string
}

// buildTree places each cluster instance of each application instance under the group of the
// application's definition that holds its alias; clusters the definition does not name stay at
// the top.
func buildTree(a application, rt runtimeView) []instanceView {
	var out []instanceView
	for _, ai := range rt.ApplicationInstances {
		cis := runtimeClusters(ai.ClusterInstances, ai.GroupInstances) // the view nests group instances
		byAlias := map[string]clusterInstance{}
		for _, ci := range cis {
			byAlias[ci.Alias] = ci
		}
		used := map[string]bool{}
		iv := instanceView{ID: ai.InstanceID, Status: ai.Status}
		iv.Clusters = clustersOf(a.Components.Cartridges, byAlias, used)
		for _, g := range a.Components.Groups {
			iv.Groups = append(iv.Groups, groupOf(g, byAlias, used))
		}
		for _, ci := range cis {
			if !used[ci.Alias] {
				iv.Clusters = append(iv.Clusters, clusterOf(ci, 0, 0))
			}
		}
		out = append(out, iv)
	}
	return out
}

func groupOf(g groupRef, byAlias map[string]clusterInstance, used map[string]bool) groupView {
	gv := groupView{Alias: g.Alias, Name: g.Name, Min: int(g.GroupMinInstances), Max: int(g.GroupMaxInstances)}
	gv.Clusters = clustersOf(g.Cartridges, byAlias, used)
	for _, sub := range g.Groups {
		gv.Groups = append(gv.Groups, groupOf(sub, byAlias, used))
	}
	return gv
}

func clustersOf(carts []cartridgeRef, byAlias map[string]clusterInstance, used map[string]bool) []clusterView {
	var out []clusterView
	for _, c := range carts {
		ci, ok := byAlias[c.SubscribableInfo.Alias]
		if !ok {
			continue
		}
		used[ci.Alias] = true
		out = append(out, clusterOf(ci, int(c.CartridgeMin), int(c.CartridgeMax)))
	}
	return out
}

func clusterOf(ci clusterInstance, lo, hi int) clusterView {
	cv := clusterView{Alias: ci.Alias, ServiceName: ci.ServiceName, ClusterID: ci.ClusterID, InstanceID: ci.InstanceID,
		Status: ci.Status, Min: lo, Max: hi, AccessURLs: ci.AccessURLs, Members: ci.Member}
	if ci.StartFailure != nil {
		cv.Failure = ci.StartFailure.Reason
	}
	for _, m := range ci.Member {
		switch model.MemberStatus(m.Status) {
		case model.MemberActive:
			cv.Active++
			cv.NonTerminated++
		case model.MemberTerminated:
		default:
			cv.NonTerminated++
		}
	}
	return cv
}

// cartridgeOf finds the cartridge of the definition whose alias is alias.
func cartridgeOf(a application, alias string) (cartridgeRef, bool) {
	var find func([]cartridgeRef, []groupRef) (cartridgeRef, bool)
	find = func(cs []cartridgeRef, gs []groupRef) (cartridgeRef, bool) {
		for _, c := range cs {
			if c.SubscribableInfo.Alias == alias {
				return c, true
			}
		}
		for _, g := range gs {
			if c, ok := find(g.Cartridges, g.Groups); ok {
				return c, true
			}
		}
		return cartridgeRef{}, false
	}
	return find(a.Components.Cartridges, a.Components.Groups)
}

// stateClass is the CSS class of a status word: letters only, lower case.
func stateClass(status string) string {
	var b strings.Builder
	b.WriteString("state-")
	for _, r := range strings.ToLower(status) {
		if r >= 'a' && r <= 'z' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
