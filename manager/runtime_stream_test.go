package manager

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/strata-paas/strata/internal/model"
)

// pagedPlatform is fakePlatform with many members per cluster instance and the controller's
// paged reads (ApplicationPage, InstanceMembers), cut from its topology; it records the most
// members one call handed out.
type pagedPlatform struct {
	*fakePlatform
	perInstance int
	mu          sync.Mutex
	largest     int
}

func (p *pagedPlatform) Topology() *model.Topology {
	top := p.fakePlatform.Topology()
	states := []model.MemberStatus{model.MemberActive, model.MemberStarting, model.MemberActive, model.MemberInitialized}
	for _, svc := range top.ServiceMap {
		for _, c := range svc.ClusterIDClusterMap {
			for iid, ci := range c.InstanceIDToInstanceContextMap {
				for i := range p.perInstance {
					m := &model.Member{ServiceName: c.ServiceName, ClusterID: c.ClusterID, MemberID: fmt.Sprintf("%s-%s-%05d", c.ClusterID, iid, i),
						ClusterInstanceID: iid, NetworkPartitionID: ci.NetworkPartitionID, PartitionID: "p-1", DefaultPrivateIP: "10.0.0.1",
						MemberPrivateIPs: []string{"10.0.0.1"}, PortMap: model.PortMap{8280: {Protocol: "http", Value: 8080, Proxy: 8280}, 8243: {Protocol: "https", Value: 8443, Proxy: 8243}}}
					m.PushStatus(states[i%len(states)])
					c.MemberMap[m.MemberID] = m
				}
			}
		}
	}
	return top
}

func (p *pagedPlatform) handed(n int) {
	p.mu.Lock()
	p.largest = max(p.largest, n)
	p.mu.Unlock()
}

func (p *pagedPlatform) appClusters(appID string) []*model.Cluster {
	var out []*model.Cluster
	for _, svc := range p.Topology().ServiceMap {
		for _, c := range svc.ClusterIDClusterMap {
			if c.AppID == appID {
				out = append(out, c)
			}
		}
	}
	slices.SortFunc(out, func(a, b *model.Cluster) int { return strings.Compare(a.ClusterID, b.ClusterID) })
	return out
}

func (p *pagedPlatform) ApplicationPage(appID, after string, limit int) ApplicationPage {
	clusters := p.appClusters(appID)
	out := ApplicationPage{Counts: map[string]map[string]map[string]int{}}
	var ids []string
	for _, c := range clusters {
		byInstance := map[string]map[string]int{}
		out.Counts[c.ClusterID] = byInstance
		for id, m := range c.MemberMap {
			if byInstance[m.ClusterInstanceID] == nil {
				byInstance[m.ClusterInstanceID] = map[string]int{}
			}
			byInstance[m.ClusterInstanceID][string(m.Status())]++
			if id > after {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	if limit >= 0 && len(ids) > limit {
		ids = ids[:limit]
		if limit > 0 {
			out.Next = ids[len(ids)-1]
		}
	}
	p.handed(len(ids))
	for _, c := range clusters {
		for id := range c.MemberMap {
			if _, keep := slices.BinarySearch(ids, id); !keep {
				delete(c.MemberMap, id)
			}
		}
		out.Clusters = append(out.Clusters, c)
	}
	return out
}

func (p *pagedPlatform) InstanceMembers(clusterID, instanceID, after string, limit int) []*model.Member {
	var out []*model.Member
	if c := p.Topology().Cluster(clusterID); c != nil {
		for id, m := range c.MemberMap {
			if m.ClusterInstanceID == instanceID && id > after {
				out = append(out, m)
			}
		}
	}
	slices.SortFunc(out, func(a, b *model.Member) int { return strings.Compare(a.MemberID, b.MemberID) })
	out = out[:min(limit, len(out))]
	p.handed(len(out))
	return out
}

// topologyOnly is pagedPlatform as a ClusterManager without the paged reads: the runtime view
// is built whole from the topology.
type topologyOnly struct{ p *pagedPlatform }

func (t topologyOnly) CreateApplicationClusters(ctx context.Context, appID string, cs []Cluster) error {
	return t.p.CreateApplicationClusters(ctx, appID, cs)
}
func (t topologyOnly) RemoveApplicationClusters(ctx context.Context, appID string) error {
	return t.p.RemoveApplicationClusters(ctx, appID)
}
func (t topologyOnly) Topology() *model.Topology { return t.p.Topology() }
func (t topologyOnly) StartFailure(clusterID string) (StartFailure, bool) {
	return t.p.StartFailure(clusterID)
}

// The full runtime view of 2,500 members per cluster instance is streamed: no call hands out
// more than a page of members (before, the controller copied every member at once under its
// lock and the answer was encoded whole), and the streamed document is byte for byte the one
// built whole from the topology.
func TestRuntimeViewStreams(t *testing.T) {
	e := newEnv(t)
	postDefinitions(t, e, [3]string{"shop", "web", "php"}, [3]string{"blog", "web", "php8"})
	expect(t, "deploy", e.admin("POST", "/api/applications/shop/deploy/ap-1", nil), http.StatusAccepted, "")
	expect(t, "deploy", e.admin("POST", "/api/applications/blog/deploy/ap-1", nil), http.StatusAccepted, "")
	pp := &pagedPlatform{fakePlatform: e.plat, perInstance: 2500}
	e.srv.opts.Clusters = pp
	streamed := e.admin("GET", "/api/applications/shop/runtime", nil)
	expect(t, "runtime", streamed, http.StatusOK, "")
	if pp.largest > streamPage {
		t.Errorf("a call handed out %d members at once, want at most a page of %d", pp.largest, streamPage)
	}
	e.srv.opts.Clusters = topologyOnly{pp}
	whole := e.admin("GET", "/api/applications/shop/runtime", nil)
	expect(t, "runtime", whole, http.StatusOK, "")
	if string(streamed.body) != string(whole.body) {
		t.Errorf("the streamed view (%d bytes) differs from the whole one (%d bytes):\n%.400s\n%.400s", len(streamed.body), len(whole.body), streamed.body, whole.body)
	}
	if n := strings.Count(string(streamed.body), `"memberId"`); n != 2501 {
		t.Errorf("the streamed view lists %d members, want 2501 (2 500 and the fake's own)", n)
	}
	if got := streamed.hdr.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type %q", got)
	}
}
