package controller

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/internal/model"
)

// TestIDSet inserts and deletes random ids, past several block splits and merges, and checks
// the set against a map after each step: its length, its order, and a walk from any id.
func TestIDSet(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var s idSet
	want := map[string]bool{}
	check := func(step int) {
		t.Helper()
		if s.len() != len(want) {
			t.Fatalf("step %d: len %d, want %d", step, s.len(), len(want))
		}
		sorted := slices.Sorted(maps.Keys(want))
		var got []string
		for c := s.cursor(""); ; c.next() {
			id, ok := c.peek()
			if !ok {
				break
			}
			got = append(got, id)
		}
		if !slices.Equal(got, sorted) {
			t.Fatalf("step %d: the walk differs from the sorted ids: %s", step, cmp.Diff(sorted, got))
		}
		for _, b := range s.blocks {
			if len(b) == 0 || len(b) > idBlock {
				t.Fatalf("step %d: a block of %d ids", step, len(b))
			}
		}
		if len(sorted) > 0 {
			after := sorted[r.IntN(len(sorted))] + "~" // between two ids, or after the last
			c := s.cursor(after)
			id, ok := c.peek()
			i, _ := slices.BinarySearch(sorted, after)
			if wantOK := i < len(sorted); ok != wantOK || (ok && id != sorted[i]) {
				t.Fatalf("step %d: cursor after %q at %q (%v), want %v", step, after, id, ok, sorted[i:min(i+1, len(sorted))])
			}
		}
	}
	for step := range 6000 {
		id := fmt.Sprintf("m%05d", r.IntN(3000))
		if r.IntN(3) < 2 || len(want) == 0 {
			if s.insert(id) == want[id] {
				t.Fatalf("step %d: insert %s reported %v with the id there: %v", step, id, !want[id], want[id])
			}
			want[id] = true
		} else {
			if s.delete(id) != want[id] {
				t.Fatalf("step %d: delete %s reported %v with the id there: %v", step, id, !want[id], want[id])
			}
			delete(want, id)
		}
		if step%97 == 0 {
			check(step)
		}
	}
	check(-1)
	for id := range want { // empty it: blocks merge and go
		s.delete(id)
	}
	if s.len() != 0 || len(s.blocks) != 0 {
		t.Fatalf("emptied: len %d, %d blocks", s.len(), len(s.blocks))
	}
}

// TestApplicationPageWalksTheIndex: members created, moved through their states, terminated and
// reloaded from the store are paged in id order across an application's clusters and cluster
// instances, with the counts by state a scan of every member finds, page after page.
func TestApplicationPageWalksTheIndex(t *testing.T) {
	c := &Controller{clusters: map[string]*cluster{}, members: map[string]*member{}}
	r := rand.New(rand.NewPCG(3, 4))
	var all []*model.Member
	for _, cid := range []string{"app.php.php.domain", "app.tomcat.tomcat.domain"} {
		cl := &cluster{Spec: ClusterSpec{ClusterID: cid, AppID: "app"},
			Cluster: &model.Cluster{ClusterID: cid, AppID: "app", MemberMap: map[string]*model.Member{}}}
		c.clusters[cid] = cl
		for i := range 700 {
			m := &model.Member{ClusterID: cid, MemberID: model.NewMemberID(cid), ClusterInstanceID: fmt.Sprintf("app-%d", 1+i%3)}
			m.PushStatus(model.MemberCreated)
			cl.Cluster.MemberMap[m.MemberID] = m
			cl.indexAddLocked(m)
			all = append(all, m)
		}
	}
	other := &cluster{Spec: ClusterSpec{ClusterID: "other.php.php.domain", AppID: "other"},
		Cluster: &model.Cluster{ClusterID: "other.php.php.domain", AppID: "other", MemberMap: map[string]*model.Member{}}}
	c.clusters[other.Spec.ClusterID] = other
	om := &model.Member{ClusterID: other.Spec.ClusterID, MemberID: model.NewMemberID(other.Spec.ClusterID), ClusterInstanceID: "other-1"}
	om.PushStatus(model.MemberCreated)
	other.Cluster.MemberMap[om.MemberID] = om
	other.indexAddLocked(om)

	// States as the lifecycle moves them: some Initialized, of those some Active, some terminated.
	for _, m := range all {
		cl := c.clusters[m.ClusterID]
		for _, to := range []model.MemberStatus{model.MemberInitialized, model.MemberStarting, model.MemberActive} {
			if r.IntN(4) == 0 {
				break
			}
			from := m.Status()
			if err := m.SetStatus(to); err != nil {
				t.Fatal(err)
			}
			cl.indexMoveLocked(m, from)
		}
		if r.IntN(5) == 0 {
			delete(cl.Cluster.MemberMap, m.MemberID)
			cl.indexRemoveLocked(m)
		}
	}

	check := func(name string) {
		t.Helper()
		wantCounts := map[string]map[string]map[model.MemberStatus]int{}
		var ids []string
		for _, cl := range c.clusters {
			if cl.Spec.AppID != "app" {
				continue
			}
			byInstance := map[string]map[model.MemberStatus]int{}
			wantCounts[cl.Spec.ClusterID] = byInstance
			for id, m := range cl.Cluster.MemberMap {
				if byInstance[m.ClusterInstanceID] == nil {
					byInstance[m.ClusterInstanceID] = map[model.MemberStatus]int{}
				}
				byInstance[m.ClusterInstanceID][m.Status()]++
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			p := c.ApplicationPage("app", after, 250)
			if diff := cmp.Diff(wantCounts, p.Counts); diff != "" {
				t.Fatalf("%s: page %d counts (-scan +page):\n%s", name, pages, diff)
			}
			var page []string
			for _, cl := range p.Clusters {
				for id, m := range cl.MemberMap {
					if m.MemberID != id || m.ClusterID != cl.ClusterID {
						t.Fatalf("%s: member %s (cluster %s) under %s in cluster %s", name, m.MemberID, m.ClusterID, id, cl.ClusterID)
					}
					page = append(page, id)
				}
			}
			slices.Sort(page)
			got = append(got, page...)
			if p.Next == "" {
				break
			}
			if len(page) != 250 || p.Next != page[len(page)-1] {
				t.Fatalf("%s: page %d of %d members, next %q, last %q", name, pages, len(page), p.Next, page[len(page)-1])
			}
			after = p.Next
		}
		if !slices.Equal(got, ids) {
			t.Fatalf("%s: the pages hold %d members, want the %d in id order", name, len(got), len(ids))
		}
		// Each cluster instance alone, as the streamed full view reads it.
		for cid, byInstance := range wantCounts {
			for iid := range byInstance {
				var want, got []string
				for id, m := range c.clusters[cid].Cluster.MemberMap {
					if m.ClusterInstanceID == iid {
						want = append(want, id)
					}
				}
				slices.Sort(want)
				for after := ""; ; {
					if c.EachInstanceMember(cid, iid, after, 100, func(m *model.Member) {
						got = append(got, m.MemberID)
						after = m.MemberID
					}) == 0 {
						break
					}
				}
				if !slices.Equal(got, want) {
					t.Fatalf("%s: EachInstanceMember of %s %s walked %d members, want the %d in id order", name, cid, iid, len(got), len(want))
				}
			}
		}
		if p := c.ApplicationPage("app", "", -1); len(p.Clusters) != 2 || len(p.Clusters[0].MemberMap)+len(p.Clusters[1].MemberMap) != len(ids) {
			t.Fatalf("%s: the page without limit does not hold every member", name)
		}
	}
	check("after the lifecycle")

	// A restart rebuilds the index from the stored members (load adds each to its cluster).
	for _, cl := range c.clusters {
		cl.index = nil
		for _, m := range cl.Cluster.MemberMap {
			cl.indexAddLocked(m)
		}
	}
	check("after a reload")
}
