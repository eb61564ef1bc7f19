package model

import "testing"

func TestTopologyLookups(t *testing.T) {
	top := sampleTopology()
	if s := top.Service(sService); s == nil || s.ServiceName != sService {
		t.Errorf("Service(%q) = %v", sService, s)
	}
	if c := top.Cluster(sCluster); c == nil || c.ClusterID != sCluster {
		t.Errorf("Cluster(%q) = %v", sCluster, c)
	}
	if m := top.Member(sCluster, sMember); m == nil || m.Status() != MemberActive {
		t.Errorf("Member = %v", m)
	}
	if m := top.FindMember(sMember); m == nil || m.MemberID != sMember {
		t.Errorf("FindMember(%q) = %v", sMember, m)
	}
	// A member id that does not end in a UUID is found by scanning.
	top.Cluster(sCluster).MemberMap["plain"] = &Member{MemberID: "plain"}
	if m := top.FindMember("plain"); m == nil {
		t.Error("FindMember(plain) = nil")
	}
	for _, miss := range []*Member{top.Member("nope", sMember), top.Member(sCluster, "nope"), top.FindMember("nope")} {
		if miss != nil {
			t.Errorf("lookup of a missing member = %v", miss)
		}
	}
	var nilTop *Topology
	if nilTop.Service("x") != nil || nilTop.Cluster("x") != nil || nilTop.FindMember("x") != nil {
		t.Error("lookups on a nil topology returned something")
	}
}
