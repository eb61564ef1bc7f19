package manager

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// postDefinitions posts a network partition, policies and two php-style cartridges (php, php8)
// with the same host on proxy port 8280 (as every Stratos sample), and an application per
// {id, alias, cartridge type}.
func postDefinitions(t *testing.T, e *testEnv, apps ...[3]string) {
	t.Helper()
	for _, p := range []struct{ path, body string }{
		{"/api/autoscalingPolicies", `{"id":"as-1","loadThresholds":{"requestsInFlight":{"threshold":20},"memoryConsumption":{"threshold":70},"loadAverage":{"threshold":70}}}`},
		{"/api/networkPartitions", `{"id":"np-1","provider":"mock","partitions":[{"id":"p-1"}]}`},
		{"/api/deploymentPolicies", `{"id":"dep-1","networkPartitions":[{"id":"np-1","partitionAlgo":"one-after-another","partitions":[{"id":"p-1","partitionMax":5}]}]}`},
		{"/api/applicationPolicies", `{"id":"ap-1","algorithm":"one-after-another","networkPartitions":["np-1"]}`},
		{"/api/cartridges", `{"type":"php","category":"framework","provider":"apache","host":"php.example.org","multiTenant":"false",
			"portMapping":[{"name":"http","protocol":"http","port":"8080","proxyPort":"8280"}],"iaasProvider":[{"type":"mock","imageId":"img"}]}`},
		{"/api/cartridges", `{"type":"php8","category":"framework","provider":"apache","host":"php.example.org","multiTenant":"false",
			"portMapping":[{"name":"http","protocol":"http","port":"8080","proxyPort":"8280"}],"iaasProvider":[{"type":"mock","imageId":"img8"}]}`},
	} {
		expect(t, "POST "+p.path, e.admin("POST", p.path, []byte(p.body)), http.StatusCreated, "")
	}
	for _, a := range apps {
		body := fmt.Sprintf(`{"applicationId":%q,"alias":%[1]q,"components":{"cartridges":[{"type":%q,"cartridgeMin":1,"cartridgeMax":2,
			"subscribableInfo":{"alias":%q,"autoscalingPolicy":"as-1","deploymentPolicy":"dep-1"}}]}}`, a[0], a[2], a[1])
		expect(t, "POST application "+a[0], e.admin("POST", "/api/applications", []byte(body)), http.StatusCreated, "")
	}
}

// Two applications whose clusters have the same host name on the same proxy port would share
// one entry of the load balancer's routing table, so one application's requests would go to the
// other: the second deploy is refused with 409 naming the cluster that has the route. Another
// host name on the same port is fine (the load balancer routes by host name).
func TestProxyPortConflict(t *testing.T) {
	e := newEnv(t)
	// shop + web.x and shop.web + x both make the host name shop.web.x.php.example.org (their
	// cartridges differ, so their cluster ids do not).
	postDefinitions(t, e, [3]string{"shop", "web.x", "php"}, [3]string{"shop.web", "x", "php8"}, [3]string{"blog", "web", "php"})
	expect(t, "deploy shop", e.admin("POST", "/api/applications/shop/deploy/ap-1", nil), http.StatusAccepted, "deployed successfully")
	first := model.ClusterID("shop", "web.x", "php")
	r := e.admin("POST", "/api/applications/shop.web/deploy/ap-1", nil)
	expect(t, "deploy shop.web", r, http.StatusConflict, "")
	for _, want := range []string{"proxy port 8280", "shop.web.x.php.example.org", first, "application shop"} {
		if !strings.Contains(r.msg().Message, want) {
			t.Errorf("409 message %q does not name %q", r.msg().Message, want)
		}
	}
	if ids := e.plat.appIDs(); len(ids) != 1 {
		t.Errorf("clusters after the refused deploy: %v", ids)
	}
	var app map[string]any
	_ = json.Unmarshal(e.admin("GET", "/api/applications/shop.web", nil).body, &app)
	if app["status"] != "Created" {
		t.Errorf("refused application is %v, want Created", app["status"])
	}
	expect(t, "deploy blog on the same port", e.admin("POST", "/api/applications/blog/deploy/ap-1", nil), http.StatusAccepted, "deployed successfully")
	// Once shop is gone, its route is free.
	expect(t, "undeploy shop", e.admin("POST", "/api/applications/shop/undeploy", nil), http.StatusAccepted, "")
	e.srv.bg.Wait()
	expect(t, "deploy shop.web after shop", e.admin("POST", "/api/applications/shop.web/deploy/ap-1", nil), http.StatusAccepted, "deployed successfully")
}

// The runtime view shows why a member of a cluster could not be started, on the cluster
// instance the start was for, also when the controller never created that instance.
func TestRuntimeShowsStartFailure(t *testing.T) {
	e := newEnv(t)
	postDefinitions(t, e, [3]string{"shop", "web", "php"})
	expect(t, "deploy", e.admin("POST", "/api/applications/shop/deploy/ap-1", nil), http.StatusAccepted, "")
	cluster := model.ClusterID("shop", "web", "php")
	at := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	e.plat.mu.Lock()
	e.plat.failures = map[string]StartFailure{cluster: {ClusterID: cluster, ClusterInstanceID: "shop-9", NetworkPartitionID: "np-1",
		PartitionID: "p-1", Reason: `network partition "np-1" does not exist: controller: not found`, Time: at, Failures: 3}}
	e.plat.mu.Unlock()
	r := e.admin("GET", "/api/applications/shop/runtime", nil)
	expect(t, "runtime", r, http.StatusOK, "")
	var rt struct {
		ApplicationInstances []struct {
			ClusterInstances []struct {
				InstanceID   string          `json:"instanceId"`
				ClusterID    string          `json:"clusterId"`
				Status       string          `json:"status"`
				StartFailure json.RawMessage `json:"startFailure"`
			} `json:"clusterInstances"`
		} `json:"applicationInstances"`
	}
	if err := json.Unmarshal(r.body, &rt); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ai := range rt.ApplicationInstances {
		for _, ci := range ai.ClusterInstances {
			if ci.InstanceID != "shop-9" {
				if ci.StartFailure != nil {
					t.Errorf("instance %s shows another instance's failure: %s", ci.InstanceID, ci.StartFailure)
				}
				continue
			}
			found = true
			want := `{"clusterId":"` + cluster + `","clusterInstanceId":"shop-9","networkPartitionId":"np-1","partitionId":"p-1",` +
				`"reason":"network partition \"np-1\" does not exist: controller: not found","time":"2026-12-06T05:00:00Z","failures":3}`
			if string(ci.StartFailure) != want || ci.ClusterID != cluster || ci.Status != "Created" {
				t.Errorf("cluster instance %s: status %s, startFailure\n%s\nwant\n%s", ci.InstanceID, ci.Status, ci.StartFailure, want)
			}
		}
	}
	if !found {
		t.Errorf("the failed cluster instance is not in the runtime view: %s", r.body)
	}
}
