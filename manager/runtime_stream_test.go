package manager

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
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

func (p *pagedPlatform) EachInstanceMember(clusterID, instanceID, after string, limit int, visit func(*model.Member)) int {
	ms := p.instanceMembers(clusterID, instanceID, after, limit)
	for _, m := range ms {
		visit(m)
	}
	return len(ms)
}

func (p *pagedPlatform) instanceMembers(clusterID, instanceID, after string, limit int) []*model.Member {
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

// fixedPager is pagedPlatform with its topology built once: what a page costs the platform is
// left out of what the view costs the manager.
type fixedPager struct {
	*pagedPlatform
	pages   map[string]ApplicationPage    // without members, by application
	members map[[2]string][]*model.Member // by cluster and instance, in id order
}

func newFixedPager(p *pagedPlatform, appIDs ...string) *fixedPager {
	f := &fixedPager{pagedPlatform: p, pages: map[string]ApplicationPage{}, members: map[[2]string][]*model.Member{}}
	for _, id := range appIDs {
		f.pages[id] = p.ApplicationPage(id, "", 0)
	}
	for _, svc := range p.Topology().ServiceMap {
		for _, c := range svc.ClusterIDClusterMap {
			for _, m := range c.MemberMap {
				k := [2]string{c.ClusterID, m.ClusterInstanceID}
				f.members[k] = append(f.members[k], m)
			}
		}
	}
	for _, ms := range f.members {
		slices.SortFunc(ms, func(a, b *model.Member) int { return strings.Compare(a.MemberID, b.MemberID) })
	}
	return f
}

func (f *fixedPager) ApplicationPage(appID, _ string, _ int) ApplicationPage { return f.pages[appID] }

func (f *fixedPager) EachInstanceMember(clusterID, instanceID, after string, limit int, visit func(*model.Member)) int {
	ms := f.members[[2]string{clusterID, instanceID}]
	i, _ := slices.BinarySearchFunc(ms, after, func(m *model.Member, id string) int {
		if m.MemberID <= id {
			return -1
		}
		return 1
	})
	n := 0
	for ; n < limit && i+n < len(ms); n++ {
		visit(ms[i+n])
	}
	return n
}

// discardResponse is a ResponseWriter that keeps nothing of the body.
type discardResponse struct {
	h     http.Header
	bytes int
}

func (d *discardResponse) Header() http.Header         { return d.h }
func (d *discardResponse) WriteHeader(int)             {}
func (d *discardResponse) Write(b []byte) (int, error) { d.bytes += len(b); return len(b), nil }

// Bounds of what the streamed runtime view allocates, apart from what the platform's pages cost:
// its buffers (a page's bytes), and per member listed. A copy of each member's bean, its port
// list and its JSON made ~800 B a member (80 MB for one view of 100 000 members, garbage that
// pushed the heap to the GC's goal with every view: issue 17).
const (
	maxStreamAllocFixed     = 1 << 20
	maxStreamAllocPerMember = 64
)

// TestRuntimeViewStreamAllocations: the streamed runtime view encodes each page into a buffer it
// reuses, with one encoder and one port list: what it allocates is a page's bytes and a few
// bytes a member. A memory bound, not a timing; the race detector's sync.Pool drops encoders at
// random, so the bound holds without it (the Makefile runs this test once more without it).
func TestRuntimeViewStreamAllocations(t *testing.T) {
	e := newEnv(t)
	postDefinitions(t, e, [3]string{"shop", "web", "php"}, [3]string{"blog", "web", "php8"})
	expect(t, "deploy", e.admin("POST", "/api/applications/shop/deploy/ap-1", nil), http.StatusAccepted, "")
	fp := newFixedPager(&pagedPlatform{fakePlatform: e.plat, perInstance: 5000}, "shop")
	e.srv.opts.Clusters = fp
	var a applicationRecord
	if err := e.srv.store.get(bucketApplications, "shop", &a); err != nil {
		t.Fatal(err)
	}
	members := 0
	for _, ms := range fp.members {
		members += len(ms)
	}
	w := &discardResponse{h: http.Header{}}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if !e.srv.streamRuntime(w, &a, fp) {
		t.Fatal("the view was not streamed")
	}
	runtime.ReadMemStats(&after)
	got, bound := after.TotalAlloc-before.TotalAlloc, uint64(maxStreamAllocFixed+maxStreamAllocPerMember*members)
	t.Logf("%d members, %d bytes: %d B allocated (%d B per member), bound %d B", members, w.bytes, got, got/uint64(members), bound)
	if got > bound && !testenv.Race {
		t.Errorf("the streamed view of %d members allocated %d B (%d B per member), want <= %d", members, got, got/uint64(members), bound)
	}
}
