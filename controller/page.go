package controller

import (
	"container/heap"
	"slices"
	"strings"

	"github.com/strata-paas/strata/internal/model"
)

// ApplicationPage is one page of an application's clusters: what the runtime view shows
// without copying every member.
type ApplicationPage struct {
	// Clusters are copies of the application's clusters whose MemberMap holds only the
	// members of the page.
	Clusters []*model.Cluster
	// Counts are the members of each cluster instance by state: cluster id, then cluster
	// instance id, then state.
	Counts map[string]map[string]map[model.MemberStatus]int
	// Next is the id of the page's last member when more follow (the next page's after), or "".
	Next string
}

// ApplicationPage returns the clusters of an application with at most limit of its members (all
// when limit < 0): those whose id sorts after after, in id order across the application, and
// the member counts of every cluster instance. Its cost is linear in the application's members
// with only the page copied, so that a page of a cluster of 100,000 members is cheap.
func (c *Controller) ApplicationPage(appID, after string, limit int) ApplicationPage {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := ApplicationPage{Counts: map[string]map[string]map[model.MemberStatus]int{}}
	var h idHeap // the page: the limit smallest ids after after, as a max-heap
	more := false
	for _, cl := range c.clusters {
		if cl.Spec.AppID != appID {
			continue
		}
		counts := map[string]map[model.MemberStatus]int{}
		p.Counts[cl.Spec.ClusterID] = counts
		for id, m := range cl.Cluster.MemberMap {
			byState := counts[m.ClusterInstanceID]
			if byState == nil {
				byState = map[model.MemberStatus]int{}
				counts[m.ClusterInstanceID] = byState
			}
			byState[m.Status()]++
			if id <= after {
				continue
			}
			switch {
			case limit < 0 || len(h) < limit:
				heap.Push(&h, pageEntry{id, m})
			case limit > 0 && id < h[0].id:
				h[0] = pageEntry{id, m}
				heap.Fix(&h, 0)
				more = true
			default:
				more = true
			}
		}
	}
	ids := slices.SortedFunc(slices.Values(h), func(a, b pageEntry) int { return strings.Compare(a.id, b.id) })
	if more && len(ids) > 0 {
		p.Next = ids[len(ids)-1].id
	}
	page := make(map[string]map[string]*model.Member)
	for _, e := range ids {
		if page[e.m.ClusterID] == nil {
			page[e.m.ClusterID] = map[string]*model.Member{}
		}
		page[e.m.ClusterID][e.id] = cloneMember(e.m)
	}
	for _, cl := range c.clusters {
		if cl.Spec.AppID != appID {
			continue
		}
		cp := cloneCluster(cl.Cluster, false)
		if ms := page[cl.Spec.ClusterID]; ms != nil {
			cp.MemberMap = ms
		}
		p.Clusters = append(p.Clusters, cp)
	}
	slices.SortFunc(p.Clusters, func(a, b *model.Cluster) int { return strings.Compare(a.ClusterID, b.ClusterID) })
	return p
}

type pageEntry struct {
	id string
	m  *model.Member
}

// idHeap is a max-heap of members by id: its top is the largest id of the page so far.
type idHeap []pageEntry

func (h idHeap) Len() int           { return len(h) }
func (h idHeap) Less(i, j int) bool { return h[i].id > h[j].id }
func (h idHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *idHeap) Push(x any)        { *h = append(*h, x.(pageEntry)) }
func (h *idHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
