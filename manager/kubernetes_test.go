package manager

import (
	"encoding/json"
	"net/http"
	"os"
	"testing"

	"github.com/strata-paas/strata/internal/model"
)

// /api/kubernetesClusters as Stratos defines it: add (201, 409 again, 400 invalid), list, get,
// hosts, master, add a host (minion), update the master and a host, remove a host, and remove
// the cluster (409 while a partition names it). The driver's reader sees what the API stored.
func TestKubernetesClusters(t *testing.T) {
	e := newEnv(t)
	def, err := os.ReadFile("testdata/kubernetes-cluster-1.json")
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "list of none", e.admin("GET", "/api/kubernetesClusters", nil), http.StatusNotFound, "No kubernetes clusters found")
	r := e.admin("POST", "/api/kubernetesClusters", def)
	expect(t, "add", r, http.StatusCreated, "Kubernetes cluster added successfully")
	if loc := r.hdr.Get("Location"); loc != "/api/kubernetesClusters/kubernetes-cluster-1" {
		t.Errorf("Location %q", loc)
	}
	expect(t, "add again", e.admin("POST", "/api/kubernetesClusters", def), http.StatusConflict, "already exists")
	expect(t, "bad range", e.admin("POST", "/api/kubernetesClusters",
		[]byte(`{"clusterId":"k2","kubernetesMaster":{"hostId":"m"},"portRange":{"lower":40000,"upper":30000}}`)), http.StatusBadRequest, "portRange")
	expect(t, "unknown field", e.admin("POST", "/api/kubernetesClusters",
		[]byte(`{"clusterId":"k2","kubernetesMaster":{"hostId":"m"},"master":{}}`)), http.StatusBadRequest, "not valid")

	var list []model.KubernetesCluster
	r = e.admin("GET", "/api/kubernetesClusters", nil)
	if err := json.Unmarshal(r.body, &list); err != nil || len(list) != 1 || list[0].PortRange.Upper != 32767 ||
		len(list[0].KubernetesHosts) != 1 || len(list[0].Property) != 5 {
		t.Fatalf("list %d %s", r.code, r.body)
	}
	var master model.KubernetesHost
	if r = e.admin("GET", "/api/kubernetesClusters/kubernetes-cluster-1/master", nil); json.Unmarshal(r.body, &master) != nil || master.HostID != "KubHostMaster1" {
		t.Errorf("master %d %s", r.code, r.body)
	}
	expect(t, "get unknown", e.admin("GET", "/api/kubernetesClusters/nope", nil), http.StatusNotFound, "not found")

	expect(t, "add host", e.admin("POST", "/api/kubernetesClusters/kubernetes-cluster-1/minion",
		[]byte(`{"hostId":"KubHostSlave2","hostname":"slave2","privateIPAddress":"172.17.8.102"}`)), http.StatusCreated, "added")
	expect(t, "add host again", e.admin("POST", "/api/kubernetesClusters/kubernetes-cluster-1/minion",
		[]byte(`{"hostId":"KubHostSlave2"}`)), http.StatusConflict, "already exists")
	expect(t, "update host", e.admin("PUT", "/api/kubernetesClusters/host",
		[]byte(`{"hostId":"KubHostSlave2","hostname":"slave2","publicIPAddress":"203.0.113.2"}`)), http.StatusOK, "updated")
	expect(t, "update unknown host", e.admin("PUT", "/api/kubernetesClusters/host", []byte(`{"hostId":"nope"}`)), http.StatusNotFound, "not found")
	expect(t, "update master", e.admin("PUT", "/api/kubernetesClusters/kubernetes-cluster-1/master",
		[]byte(`{"hostId":"KubHostMaster1","hostname":"master2"}`)), http.StatusOK, "updated")
	var hosts []model.KubernetesHost
	if r = e.admin("GET", "/api/kubernetesClusters/kubernetes-cluster-1/hosts", nil); json.Unmarshal(r.body, &hosts) != nil ||
		len(hosts) != 2 || hosts[1].PublicIPAddress != "203.0.113.2" {
		t.Errorf("hosts %d %s", r.code, r.body)
	}
	expect(t, "remove host", e.admin("DELETE", "/api/kubernetesClusters/kubernetes-cluster-1/hosts/KubHostSlave1", nil), http.StatusOK, "removed")

	reader, err := NewKubernetesClusters(e.srv.store.db)
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := reader.KubernetesCluster("kubernetes-cluster-1"); !ok || c.KubernetesMaster.Hostname != "master2" ||
		len(c.KubernetesHosts) != 1 || c.KubernetesHosts[0].HostID != "KubHostSlave2" {
		t.Errorf("the driver's reader: %+v %v", c, ok)
	}

	expect(t, "network partition", e.admin("POST", "/api/networkPartitions",
		[]byte(`{"id":"np-k8s","provider":"kubernetes","partitions":[{"id":"P1","property":[{"name":"cluster","value":"kubernetes-cluster-1"}]}]}`)),
		http.StatusCreated, "")
	expect(t, "remove in use", e.admin("DELETE", "/api/kubernetesClusters/kubernetes-cluster-1", nil), http.StatusConflict, "partition P1 of network partition np-k8s")
	expect(t, "remove the network partition", e.admin("DELETE", "/api/networkPartitions/np-k8s", nil), http.StatusOK, "")
	expect(t, "remove", e.admin("DELETE", "/api/kubernetesClusters/kubernetes-cluster-1", nil), http.StatusOK, "removed")
	if got := reader.KubernetesClusters(); len(got) != 0 {
		t.Errorf("after remove: %+v", got)
	}
}
