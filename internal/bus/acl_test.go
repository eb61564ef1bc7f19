package bus

import (
	"strings"
	"testing"

	"github.com/strata-paas/strata/internal/model"
)

const (
	aclCluster = "app.php.php.domain"
	aclMember  = aclCluster + "9a3f6f1e-4c1b-4d8e-9a77-1b2c3d4e5f60"
	aclOther   = aclCluster + "0b7e1c2d-3a4b-4c5d-8e6f-708192a3b4c5"
)

func statusBody(t testing.TB, e model.Event) []byte {
	t.Helper()
	b, err := model.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecide(t *testing.T) {
	member := Identity{Role: RoleMember, Name: "member." + aclMember, MemberID: aclMember, ClusterID: aclCluster}
	cluster := Identity{Role: RoleCluster, Name: "agent." + aclCluster, ClusterID: aclCluster}
	ready := func(memberID, clusterID string) []byte {
		return statusBody(t, model.InstanceReadyToShutdownEvent{ServiceName: "php", ClusterID: clusterID, MemberID: memberID})
	}
	// The PCA's form: pretty-printed, sorted keys, an extra instanceId.
	pca := []byte("{\n  \"clusterId\": \"" + aclCluster + "\",\n  \"instanceId\": \"i-1\",\n  \"memberId\": \"" + aclMember + "\",\n  \"serviceName\": \"php\"\n}")
	for _, tt := range []struct {
		name   string
		id     Identity
		req    Request
		allow  bool
		reason string // a part of the reason of a refusal
	}{
		{name: "internal publishes anything", id: Identity{Role: RoleInternal},
			req: Request{Publish: true, Topic: "topology/CompleteTopologyEvent", Body: []byte("{}"), Retain: true}, allow: true},
		{name: "internal subscribes to everything", id: Identity{Role: RoleInternal}, req: Request{Topic: "#"}, allow: true},
		{name: "no role publishes nothing", id: Identity{Name: "admin"},
			req: Request{Publish: true, Topic: "initializer/CompleteTopologyRequestEvent"}, reason: "no broker access"},
		{name: "no role subscribes to nothing", id: Identity{Name: "admin"}, req: Request{Topic: "topology/#"}, reason: "no broker access"},
		{name: "member: own ready to shutdown", id: member,
			req: Request{Publish: true, Topic: "instance/status/InstanceReadyToShutdownEvent", Body: ready(aclMember, aclCluster)}, allow: true},
		{name: "member: own status in the PCA's form", id: member,
			req: Request{Publish: true, Topic: "instance/status/InstanceActivatedEvent", Body: pca}, allow: true},
		{name: "member: another member's ready to shutdown", id: member,
			req:    Request{Publish: true, Topic: "instance/status/InstanceReadyToShutdownEvent", Body: ready(aclOther, aclCluster)},
			reason: "memberId"},
		{name: "member: own member id with another cluster", id: member,
			req:    Request{Publish: true, Topic: "instance/status/InstanceMaintenanceModeEvent", Body: ready(aclMember, "other.domain")},
			reason: "clusterId"},
		{name: "member: no cluster id", id: member,
			req:    Request{Publish: true, Topic: "instance/status/InstanceStartedEvent", Body: []byte(`{"memberId":"` + aclMember + `"}`)},
			reason: "clusterId"},
		{name: "member: a duplicate key decodes as the controller reads it", id: member,
			req: Request{Publish: true, Topic: "instance/status/InstanceReadyToShutdownEvent",
				Body: []byte(`{"memberId":"` + aclMember + `","clusterId":"` + aclCluster + `","memberId":"` + aclOther + `"}`)},
			reason: "memberId"},
		{name: "member: keys differing in case decode as the controller reads them", id: member,
			req: Request{Publish: true, Topic: "instance/status/InstanceReadyToShutdownEvent",
				Body: []byte(`{"memberId":"` + aclMember + `","clusterId":"` + aclCluster + `","MEMBERID":"` + aclOther + `"}`)},
			reason: "memberId"},
		{name: "member: garbage body", id: member,
			req: Request{Publish: true, Topic: "instance/status/InstanceStartedEvent", Body: []byte("{")}, reason: "does not decode"},
		{name: "member: retained status", id: member,
			req:    Request{Publish: true, Topic: "instance/status/InstanceStartedEvent", Body: ready(aclMember, aclCluster), Retain: true},
			reason: "retained"},
		{name: "member: topology request", id: member,
			req: Request{Publish: true, Topic: "initializer/CompleteTopologyRequestEvent", Body: []byte("{}")}, allow: true},
		{name: "member: topology event", id: member,
			req: Request{Publish: true, Topic: "topology/MemberTerminatedEvent", Body: []byte("{}")}, reason: "only instance/status"},
		{name: "member: cleanup request", id: member,
			req:    Request{Publish: true, Topic: "instance/notifier/InstanceCleanupMemberEvent", Body: []byte(`{"memberId":"` + aclMember + `"}`)},
			reason: "only instance/status"},
		{name: "member: health summary", id: member,
			req: Request{Publish: true, Topic: model.SummaryTopic, Body: []byte("{}")}, reason: "only instance/status"},
		{name: "member: subscribe topology", id: member, req: Request{Topic: "topology/#"}, allow: true},
		{name: "member: subscribe one topology event", id: member, req: Request{Topic: "topology/MemberActivatedEvent"}, allow: true},
		{name: "member: subscribe instance/#", id: member, req: Request{Topic: "instance/#"}, allow: true},
		{name: "member: subscribe instance/+/X", id: member, req: Request{Topic: "instance/+/InstanceCleanupMemberEvent"}, allow: true},
		{name: "member: subscribe tenant", id: member, req: Request{Topic: "tenant/#"}, allow: true},
		{name: "member: subscribe sign-ups", id: member, req: Request{Topic: "application/signup/#"}, allow: true},
		{name: "member: subscribe everything", id: member, req: Request{Topic: "#"}, reason: "subscribe only"},
		{name: "member: subscribe +/#", id: member, req: Request{Topic: "+/#"}, reason: "subscribe only"},
		{name: "member: subscribe application/#", id: member, req: Request{Topic: "application/#"}, reason: "subscribe only"},
		{name: "member: subscribe initializer", id: member, req: Request{Topic: "initializer/#"}, reason: "subscribe only"},
		{name: "member: subscribe $SYS", id: member, req: Request{Topic: "$SYS/#"}, reason: "subscribe only"},
		{name: "member: shared subscription", id: member, req: Request{Topic: "$share/g/topology/#"}, reason: "subscribe only"},
		{name: "member: asks for its cluster's part", id: member,
			req: Request{Publish: true, Topic: "strata/initializer/ClusterTopologyRequestEvent", Body: []byte(`{"clusterId":"` + aclCluster + `"}`)}, allow: true},
		{name: "member: asks for another cluster's part", id: member,
			req:    Request{Publish: true, Topic: "strata/initializer/ClusterTopologyRequestEvent", Body: []byte(`{"clusterId":"other.php.php.domain"}`)},
			reason: "clusterId"},
		{name: "member: asks for a part without a cluster", id: member,
			req: Request{Publish: true, Topic: "strata/initializer/ClusterTopologyRequestEvent", Body: []byte(`{}`)}, reason: "clusterId"},
		{name: "member: a part request that does not decode", id: member,
			req: Request{Publish: true, Topic: "strata/initializer/ClusterTopologyRequestEvent", Body: []byte(`{`)}, reason: "does not decode"},
		{name: "member: reads its cluster's part", id: member, req: Request{Topic: "strata/topology/cluster/" + aclCluster}, allow: true},
		{name: "member: reads another cluster's part", id: member, req: Request{Topic: "strata/topology/cluster/other.php.php.domain"},
			reason: "own cluster's part"},
		{name: "member: reads every cluster's part", id: member, req: Request{Topic: "strata/topology/cluster/+"}, reason: "own cluster's part"},
		{name: "member: reads every part with #", id: member, req: Request{Topic: "strata/topology/cluster/#"}, reason: "own cluster's part"},
		{name: "member: reads strata/#", id: member, req: Request{Topic: "strata/#"}, reason: "subscribe only"},
		{name: "member: reads +/topology/cluster/own", id: member, req: Request{Topic: "+/topology/cluster/" + aclCluster}, reason: "subscribe only"},
		{name: "member without a cluster reads no part", id: Identity{Role: RoleMember, MemberID: aclMember},
			req: Request{Topic: "strata/topology/cluster/"}, reason: "own cluster's part"},
		{name: "cluster: reads its cluster's part", id: cluster, req: Request{Topic: "strata/topology/cluster/" + aclCluster}, allow: true},
		{name: "cluster: asks for its cluster's part", id: cluster,
			req: Request{Publish: true, Topic: "strata/initializer/ClusterTopologyRequestEvent", Body: []byte(`{"clusterId":"` + aclCluster + `"}`)}, allow: true},
		{name: "cluster: any member of its cluster", id: cluster,
			req: Request{Publish: true, Topic: "instance/status/InstanceReadyToShutdownEvent", Body: ready(aclOther, aclCluster)}, allow: true},
		{name: "cluster: a member id of another cluster", id: cluster,
			req: Request{Publish: true, Topic: "instance/status/InstanceReadyToShutdownEvent",
				Body: ready("other.domain9a3f6f1e-4c1b-4d8e-9a77-1b2c3d4e5f60", aclCluster)}, reason: "not a member"},
		{name: "cluster: another cluster", id: cluster,
			req: Request{Publish: true, Topic: "instance/status/InstanceReadyToShutdownEvent",
				Body: ready("other.domain9a3f6f1e-4c1b-4d8e-9a77-1b2c3d4e5f60", "other.domain")}, reason: "clusterId"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.id, tt.req)
			if d.Allow != tt.allow {
				t.Fatalf("Decide = %+v, want allow=%v", d, tt.allow)
			}
			if !d.Allow && !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q, want it to mention %q", d.Reason, tt.reason)
			}
			if d.Allow && d.Reason != "" {
				t.Errorf("allowed with reason %q", d.Reason)
			}
		})
	}
}

func TestCovers(t *testing.T) {
	for _, tt := range []struct {
		pattern, filter string
		want            bool
	}{
		{"a/#", "a/#", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/#", "a/+", true},
		{"a/#", "#", false},
		{"a/#", "+/b", false},
		{"a/#", "b/#", false},
		{"a/+", "a/b", true},
		{"a/+", "a/+", true},
		{"a/+", "a/#", false},
		{"a/+", "a/b/c", false},
		{"a/b", "a/b", true},
		{"a/b", "a/+", false},
		{"a/b", "a", false},
		{"#", "$SYS/x", false},
	} {
		if got := covers(tt.pattern, tt.filter); got != tt.want {
			t.Errorf("covers(%q, %q) = %v, want %v", tt.pattern, tt.filter, got, tt.want)
		}
	}
}

// FuzzACL checks Decide's invariants on any topic, body and identity: it never panics, the
// internal identity may do everything and an identity without a role nothing, an agent never
// publishes outside the status and request topics nor retained messages, an allowed status event
// names the credential's member (or a member of its cluster) and cluster as the controller reads
// it, and an allowed subscription matches only topics an agent reads.
func FuzzACL(f *testing.F) {
	f.Add(uint8(RoleMember), aclMember, aclCluster, true, "instance/status/InstanceReadyToShutdownEvent",
		statusBody(f, model.InstanceReadyToShutdownEvent{ClusterID: aclCluster, MemberID: aclMember}), false)
	f.Add(uint8(RoleMember), aclMember, aclCluster, true, "instance/status/InstanceReadyToShutdownEvent",
		statusBody(f, model.InstanceReadyToShutdownEvent{ClusterID: aclCluster, MemberID: aclOther}), false)
	f.Add(uint8(RoleCluster), "", aclCluster, true, "instance/status/InstanceStartedEvent",
		[]byte(`{"clusterId":"`+aclCluster+`","memberId":"`+aclOther+`"}`), false)
	f.Add(uint8(RoleMember), aclMember, aclCluster, false, "topology/#", []byte(nil), false)
	f.Add(uint8(RoleMember), aclMember, aclCluster, false, "+/+/#", []byte(nil), false)
	f.Add(uint8(RoleNone), "", "", true, "initializer/CompleteTopologyRequestEvent", []byte("{}"), false)
	f.Add(uint8(RoleInternal), "", "", true, "x", []byte("\x00"), true)
	f.Fuzz(func(t *testing.T, role uint8, memberID, clusterID string, publish bool, topic string, body []byte, retain bool) {
		id := Identity{Role: Role(role % 5), MemberID: memberID, ClusterID: clusterID}
		d := Decide(id, Request{Publish: publish, Topic: topic, Body: body, Retain: retain})
		if d.Allow == (d.Reason != "") {
			t.Fatalf("Decide = %+v: a refusal needs a reason, an allowance none", d)
		}
		switch id.Role {
		case RoleInternal:
			if !d.Allow {
				t.Fatalf("internal refused: %+v", d)
			}
			return
		case RoleMember, RoleCluster:
		default:
			if d.Allow {
				t.Fatalf("role %v allowed %q", id.Role, topic)
			}
			return
		}
		if !d.Allow {
			return
		}
		if !publish {
			// Every topic the filter matches must be one an agent reads.
			for _, probe := range []string{"topology/x", "instance/status/x", "tenant/x", "initializer/x", "application/x",
				"summarized-health-stats", "cluster/status/x", "$SYS/x", "x"} {
				if match(topic, probe) && !covers("topology/#", probe) && !covers("instance/#", probe) && !covers("tenant/#", probe) {
					t.Fatalf("subscription %q allowed and matches %q", topic, probe)
				}
			}
			return
		}
		if retain {
			t.Fatalf("retained publication allowed on %q", topic)
		}
		if requestTopics[topic] {
			return
		}
		if !memberStatusTopics[topic] {
			t.Fatalf("publication on %q allowed", topic)
		}
		e, err := model.Unmarshal(topic, body)
		if err != nil {
			t.Fatalf("undecodable body allowed: %v", err)
		}
		m, c := statusIDs(e)
		if c != clusterID {
			t.Fatalf("cluster %q allowed for credential of cluster %q", c, clusterID)
		}
		if id.Role == RoleMember && m != memberID {
			t.Fatalf("member %q allowed for credential of member %q", m, memberID)
		}
		if mc, ok := model.MemberClusterID(m); id.Role == RoleCluster && (!ok || mc != clusterID) {
			t.Fatalf("member %q allowed for cluster credential %q", m, clusterID)
		}
	})
}
