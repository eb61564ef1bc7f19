package app

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/strata-paas/strata/controller/mock"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
)

// Stratos-IT scenario 3, metadata-service-test: per-application metadata properties: CRUD,
// concurrency, token isolation and cleanup on undeploy (testdata/stratos-it/README.md).

const metadataIT = "metadata-service-test"

// metadataClient calls the metadata service of one application with a bearer token ("" sends
// no Authorization header).
type metadataClient struct {
	t      *testing.T
	client *http.Client
	base   string // .../metadata/api/applications/<app>
	token  string
}

func (m metadataClient) do(method, path, body string) (int, string) {
	m.t.Helper()
	req, err := http.NewRequest(method, m.base+path, strings.NewReader(body))
	if err != nil {
		m.t.Fatal(err)
	}
	if m.token != "" {
		req.Header.Set("Authorization", "Bearer "+m.token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := m.client.Do(req)
	if err != nil {
		m.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// set adds a value to a property (path "" for the application's, "/clusters/<id>" for a
// cluster's) and expects 2xx.
func (m metadataClient) set(path, key, value string) {
	m.t.Helper()
	body, _ := json.Marshal(map[string]any{"key": key, "values": []string{value}})
	if code, resp := m.do(http.MethodPost, path+"/properties", string(body)); !ok2xx(code) {
		m.t.Errorf("set %s%s=%s = %d %s, want 2xx", path, key, value, code, resp)
	}
}

// read returns a property's values; nil means absent (a reply without key and values).
func (m metadataClient) read(path, key string) []string {
	m.t.Helper()
	_, body := m.do(http.MethodGet, path+"/properties/"+key, "")
	var p struct {
		Key    string
		Values []string
	}
	if json.Unmarshal([]byte(body), &p) != nil || p.Key == "" {
		return nil
	}
	return p.Values
}

// del sends a DELETE and expects 2xx.
func (m metadataClient) del(path string) {
	m.t.Helper()
	if code, body := m.do(http.MethodDelete, path, ""); !ok2xx(code) {
		m.t.Errorf("DELETE %s = %d %s, want 2xx", path, code, body)
	}
}

// memberPayload takes one member of the application from the topology and reads its payload
// from the mock IaaS API.
func (r *itRun) memberPayload(app string) model.Payload {
	r.t.Helper()
	for _, svc := range r.s.app.Controller().Topology().ServiceMap {
		for _, c := range svc.ClusterIDClusterMap {
			if c.AppID != app {
				continue
			}
			for id := range c.MemberMap {
				code, body := call(r.t, r.client, http.MethodGet, strings.TrimSuffix(r.api, "/api")+"/mock-iaas/api/instances/"+id, "")
				var md mock.InstanceMetadata
				if err := json.Unmarshal([]byte(body), &md); code != http.StatusOK || err != nil {
					r.t.Fatalf("GET /mock-iaas/api/instances/%s = %d %s", id, code, body)
				}
				p, err := model.ParsePayload(strings.NewReader(md.Payload))
				if err != nil {
					r.t.Fatalf("payload of %s: %v in %q", id, err, md.Payload)
				}
				return p
			}
		}
	}
	r.t.Fatalf("%s has no member in the topology", app)
	return nil
}

// TestStratosMetadataService is metadata-service-test.
func TestStratosMetadataService(t *testing.T) {
	t.Parallel()
	// The scenario calls the metadata service over HTTPS: the API's listener speaks TLS.
	o := testOptions(t)
	cert, err := databridge.LoadOrCreateCertificate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	o.APITLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	r := newIT(t, metadataIT, o)
	app1, app2 := "application-"+metadataIT+"-1", "application-"+metadataIT+"-2"
	policy := "application-policy-" + metadataIT
	r.bus.complete(t, "CompleteApplicationsEvent", "CompleteTopologyEvent", "CompleteTenantEvent", "CompleteApplicationSignUpsEvent")
	r.add("autoscalingPolicies", "autoscaling-policies/autoscaling-policy-"+metadataIT+".json")
	r.add("cartridges", "cartridges/mock/c1-application-"+metadataIT+".json")
	r.add("networkPartitions", "network-partitions/mock/network-partition-"+metadataIT+".json")
	r.add("deploymentPolicies", "deployment-policies/deployment-policy-"+metadataIT+".json")
	for _, a := range []string{app1, app2} {
		r.add("applications", "applications/"+a+".json")
		r.getJSON("applications", a, &struct{}{})
	}
	r.add("applicationPolicies", "application-policies/"+policy+".json")
	var ap struct{ ID string }
	if r.getJSON("applicationPolicies", policy, &ap); ap.ID != policy {
		t.Errorf("Get applicationPolicies/%s: id %q", policy, ap.ID)
	}
	r.deploy(app1, policy)
	r.deploy(app2, policy)
	r.activeWait(app1)
	r.clusterCheck(app1)
	r.activeWait(app2)
	r.clusterCheck(app2)

	md := map[string]metadataClient{}
	clusters := map[string]string{}
	for _, a := range []string{app1, app2} {
		p := r.memberPayload(a)
		tok, _ := p.Get(model.PayloadToken)
		id, _ := p.Get(model.PayloadApplicationID)
		clusters[a], _ = p.Get(model.PayloadClusterID)
		if tok == "" || id != a || clusters[a] == "" {
			t.Fatalf("payload of a member of %s: TOKEN %q, APPLICATION_ID %q, CLUSTER_ID %q", a, tok, id, clusters[a])
		}
		md[a] = metadataClient{t: t, client: r.client, base: strings.TrimSuffix(r.api, "/api") + "/metadata/api/applications/" + a, token: tok}
	}
	m1 := md[app1]

	// Basic.
	m1.set("", "mykey", "myval1")
	if v := m1.read("", "mykey"); !slices.Contains(v, "myval1") {
		t.Errorf("mykey = %v, want myval1", v)
	}
	m1.set("", "mykey", "myval2")
	if v := m1.read("", "mykey"); !slices.Contains(v, "myval1") || !slices.Contains(v, "myval2") {
		t.Errorf("mykey = %v, want myval1 and myval2", v)
	}
	m1.set("/clusters/"+clusters[app1], "mykey", "myval3")
	if v := m1.read("/cluster/"+clusters[app1], "mykey"); !slices.Contains(v, "myval3") {
		t.Errorf("the cluster's mykey = %v, want myval3", v)
	}
	m1.del("/properties/mykey/value/myval2")
	if v := m1.read("", "mykey"); slices.Contains(v, "myval2") {
		t.Errorf("mykey = %v after removing myval2", v)
	}
	m1.del("/properties/mykey")
	if v := m1.read("", "mykey"); v != nil {
		t.Errorf("mykey = %v after its removal, want absent", v)
	}
	m1.del("/properties")
	if v := m1.read("", "mykey"); v != nil {
		t.Errorf("mykey = %v after removing all, want absent", v)
	}

	// Concurrency: three clients set keys 0..49 to t1, t2 and t3.
	var wg sync.WaitGroup
	for _, val := range []string{"t1", "t2", "t3"} {
		wg.Go(func() {
			for k := range 50 {
				m1.set("", strconv.Itoa(k), val)
			}
		})
	}
	wg.Wait()
	for k := range 50 {
		if v := m1.read("", strconv.Itoa(k)); len(v) != 3 || !slices.Contains(v, "t1") || !slices.Contains(v, "t2") || !slices.Contains(v, "t3") {
			t.Errorf("key %d = %v, want t1, t2 and t3", k, v)
		}
	}

	// Security.
	m1.set("", "mykey", "myval1")
	if v := m1.read("", "mykey"); !slices.Contains(v, "myval1") {
		t.Errorf("mykey = %v, want myval1", v)
	}
	anonymous := m1
	anonymous.token = ""
	if v := anonymous.read("", "mykey"); v != nil {
		t.Errorf("without a token mykey = %v, want absent", v)
	}
	other := m1
	other.token = md[app2].token
	if v := other.read("", "mykey"); v != nil {
		t.Errorf("with app-2's token, app-1's mykey = %v, want absent", v)
	}

	// Undeploying app-1 removes its properties.
	r.undeploy(app1)
	for k := range 50 {
		if v := m1.read("", strconv.Itoa(k)); v != nil {
			t.Errorf("key %d = %v after the undeploy, want absent", k, v)
		}
	}

	// Cleanup.
	r.del("applications", app1)
	r.absent("applications", app1)
	r.undeploy(app2)
	r.del("applications", app2)
	r.absent("applications", app2)
	r.del("applicationPolicies", policy)
	r.del("cartridges", "c1-application-"+metadataIT)
	r.del("autoscalingPolicies", "autoscaling-policy-"+metadataIT)
	r.del("deploymentPolicies", "deployment-policy-"+metadataIT)
	r.del("networkPartitions", "network-partition-"+metadataIT)
}
