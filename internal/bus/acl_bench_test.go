package bus

import (
	"testing"

	"github.com/strata-paas/strata/internal/model"
)

// BenchmarkDecide: the decisions the broker makes most often: a member's delivery check (a topic
// against the agent filters, once per message delivered to an agent), a member's own status
// publication (decoded), and the internal identity.
func BenchmarkDecide(b *testing.B) {
	member := Identity{Role: RoleMember, MemberID: aclMember, ClusterID: aclCluster}
	body := statusBody(b, model.InstanceActivatedEvent{ServiceName: "php", ClusterID: aclCluster, MemberID: aclMember})
	for _, bb := range []struct {
		name string
		id   Identity
		req  Request
	}{
		{"member_delivery", member, Request{Topic: "tenant/CompleteTenantEvent"}},
		{"member_status", member, Request{Publish: true, Topic: "instance/status/InstanceActivatedEvent", Body: body}},
		{"internal_publish", Identity{Role: RoleInternal}, Request{Publish: true, Topic: "topology/CompleteTopologyEvent", Body: body}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !Decide(bb.id, bb.req).Allow {
					b.Fatal("refused")
				}
			}
		})
	}
}
