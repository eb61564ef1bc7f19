package console

import (
	"encoding/json"
	"testing"
)

// TestBuildTreeNestedGroups: the runtime view nests a group's cluster instances under its group
// instance; the console's tree still puts each under its group of the definition.
func TestBuildTreeNestedGroups(t *testing.T) {
	var a application
	if err := json.Unmarshal([]byte(`{"applicationId":"app","components":{
		"cartridges":[{"type":"lb","subscribableInfo":{"alias":"lb"}}],
		"groups":[{"name":"g1","alias":"g1","groups":[{"name":"g2","alias":"g2",
			"cartridges":[{"type":"php","subscribableInfo":{"alias":"web"}}]}]}]}}`), &a); err != nil {
		t.Fatal(err)
	}
	var rt runtimeView
	if err := json.Unmarshal([]byte(`{"id":"app","status":"Active","applicationInstances":[{"instanceId":"app-1","status":"Active",
		"clusterInstances":[{"alias":"lb","clusterId":"app.lb.lb.domain","instanceId":"app-1","status":"Active"}],
		"groupInstances":[{"groupId":"g1","clusterInstances":[],"groupInstances":[{"groupId":"g2",
			"clusterInstances":[{"alias":"web","clusterId":"app.web.php.domain","instanceId":"app-1","status":"Active"}]}]}]}]}`), &rt); err != nil {
		t.Fatal(err)
	}
	iv := buildTree(a, rt)
	if len(iv) != 1 || len(iv[0].Clusters) != 1 || len(iv[0].Groups) != 1 || len(iv[0].Groups[0].Groups) != 1 {
		t.Fatalf("tree %+v, want lb at the top and g1 holding g2", iv)
	}
	if cs := iv[0].Groups[0].Groups[0].Clusters; len(cs) != 1 || cs[0].ClusterID != "app.web.php.domain" {
		t.Errorf("g2's clusters %+v, want app.web.php.domain", cs)
	}
}
