package client

import (
	"encoding/json"
	"testing"
)

// groupView is a runtime view with a cluster of the application and one in a nested group.
const groupView = `{"id":"app","status":"Active","applicationInstances":[{"instanceId":"app-1","status":"Active",
 "clusterInstances":[{"clusterId":"app.lb.lb.domain","instanceId":"app-1","status":"Active","member":[{"memberId":"m1","status":"Active"}]}],
 "groupInstances":[{"groupId":"g1","instanceId":"app-1","status":"Active","clusterInstances":[],
  "groupInstances":[{"groupId":"g2","instanceId":"app-1","status":"Active",
   "clusterInstances":[{"clusterId":"app.web.php.domain","instanceId":"app-1","status":"Active","member":[{"memberId":"m2","status":"Active"}]}],
   "groupInstances":[]}]}]}]}`

// TestRuntimeCountsGroupClusters: the client counts and lists the cluster instances of group
// instances, at any depth, with the application's own.
func TestRuntimeCountsGroupClusters(t *testing.T) {
	var rv Runtime
	if err := json.Unmarshal([]byte(groupView), &rv); err != nil {
		t.Fatal(err)
	}
	if am, m, ac, cl := rv.Counts(); am != 2 || m != 2 || ac != 2 || cl != 2 {
		t.Errorf("Counts = %d active of %d members, %d active of %d clusters; want 2, 2, 2, 2", am, m, ac, cl)
	}
	if !Deployed("Active", &rv) {
		t.Error("Deployed = false, want true")
	}
}

// TestMergePageGroupMembers: a later page's members of a cluster in a nested group join that
// cluster instance, not a new one.
func TestMergePageGroupMembers(t *testing.T) {
	doc, err := decodeObject([]byte(groupView))
	if err != nil {
		t.Fatal(err)
	}
	page, err := decodeObject([]byte(groupView))
	if err != nil {
		t.Fatal(err)
	}
	mergePage(doc, page)
	b, _ := json.Marshal(doc)
	var rv Runtime
	if err := json.Unmarshal(b, &rv); err != nil {
		t.Fatal(err)
	}
	cs := rv.ApplicationInstances[0].Clusters()
	if len(cs) != 2 || len(cs[1].Member) != 2 {
		t.Errorf("merged clusters %+v, want 2 with the group's cluster holding both pages' members", cs)
	}
}
