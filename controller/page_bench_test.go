package controller

import (
	"fmt"
	"testing"

	"github.com/strata-paas/strata/internal/model"
)

// BenchmarkApplicationPage: one page of 100 members of an application of n members (the REST
// runtime view's ?limit=100). Its cost grows with n only by a binary search in the member index,
// not by a scan or a copy of every member.
func BenchmarkApplicationPage(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			c := &Controller{clusters: map[string]*cluster{}, members: map[string]*member{}}
			cl := &cluster{Spec: ClusterSpec{ClusterID: "app.php.php.domain", AppID: "app", ServiceName: "php"},
				Cluster: &model.Cluster{ClusterID: "app.php.php.domain", AppID: "app", ServiceName: "php",
					MemberMap: make(map[string]*model.Member, n), InstanceIDToInstanceContextMap: map[string]*model.ClusterInstance{
						"app-1": {InstanceID: "app-1"}}}}
			c.clusters[cl.Spec.ClusterID] = cl
			for i := range n {
				m := &model.Member{ClusterID: cl.Spec.ClusterID, MemberID: model.NewMemberID(cl.Spec.ClusterID), ClusterInstanceID: "app-1",
					MemberPrivateIPs: []string{"10.0.0.1"}, DefaultPrivateIP: "10.0.0.1"}
				m.PushStatus(model.MemberCreated)
				if i%10 != 0 {
					m.PushStatus(model.MemberActive)
				}
				cl.Cluster.MemberMap[m.MemberID] = m
				cl.indexAddLocked(m)
				c.members[m.MemberID] = &member{m: m}
			}
			b.ReportAllocs()
			for b.Loop() {
				p := c.ApplicationPage("app", "", 100)
				if len(p.Clusters[0].MemberMap) != 100 || p.Next == "" {
					b.Fatalf("page of %d members, next %q", len(p.Clusters[0].MemberMap), p.Next)
				}
			}
		})
	}
}
