package app

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/controller/mock"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// TestMockIaaSAPI: the REST server serves Stratos' mock IaaS API under /mock-iaas/api,
// authenticated like /api; GET instances/{id} returns the member's payload, and DELETE makes the
// member silent, so the CEP declares it faulty and the autoscaler replaces it.
func TestMockIaaSAPI(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	o.CEP.FaultTimeout, o.CEP.FaultCheckInterval = 2*time.Second, 100*time.Millisecond
	s := start(t, o)
	client := &http.Client{Timeout: 10 * time.Second}
	deploySample(t, s, client, nil)
	const clusterID = "single-cartridge-app.my-php.php.domain"
	base := "http://" + s.app.Addrs().API.String() + "/mock-iaas/api"

	req, _ := http.NewRequest(http.MethodGet, base+"/status", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /mock-iaas/api/status without credentials = %d, want 401", resp.StatusCode)
	}
	if code, body := call(t, client, http.MethodGet, base+"/status", ""); code != http.StatusOK || !strings.Contains(body, `"instances":1`) {
		t.Errorf("GET /mock-iaas/api/status = %d %s, want 200 with one instance", code, body)
	}

	killed := activeMembers(s, clusterID)
	if len(killed) != 1 {
		t.Fatalf("active members %v, want one", killed)
	}
	code, body := call(t, client, http.MethodGet, base+"/instances/"+killed[0], "")
	var md mock.InstanceMetadata
	if err := json.Unmarshal([]byte(body), &md); code != http.StatusOK || err != nil {
		t.Fatalf("GET instances/%s = %d %s (%v)", killed[0], code, body, err)
	}
	p, err := model.ParsePayload(strings.NewReader(md.Payload))
	if err != nil {
		t.Fatalf("payload %q: %v", md.Payload, err)
	}
	for k, want := range map[string]string{model.PayloadMemberID: killed[0], model.PayloadApplicationID: "single-cartridge-app", model.PayloadClusterID: clusterID} {
		if got, _ := p.Get(k); got != want {
			t.Errorf("payload %s = %q, want %q (payload %s)", k, got, want, md.Payload)
		}
	}
	// allocateIpAddress answers the instance's default addresses, as the member has them.
	code, body = call(t, client, http.MethodPost, base+"/instances/"+killed[0]+"/allocateIpAddress", "")
	var ips mock.InstanceMetadata
	if err := json.Unmarshal([]byte(body), &ips); code != http.StatusOK || err != nil || ips.DefaultPrivateIP != md.PrivateIPs[0] || ips.DefaultPublicIP == "" {
		t.Errorf("POST instances/%s/allocateIpAddress = %d %s (%v), want its addresses", killed[0], code, body, err)
	}
	// An instance started over the API, as Stratos' tests start one, is listed.
	if code, body := call(t, client, http.MethodPost, base+"/instances", `{"serviceName":"php","clusterId":"c1","memberId":"api-started","payload":"APPLICATION_ID=x"}`); code != http.StatusOK || !strings.Contains(body, `"instanceId":"api-started"`) {
		t.Errorf("POST /mock-iaas/api/instances = %d %s, want the new instance", code, body)
	}
	if code, body := call(t, client, http.MethodGet, base+"/instances/api-started", ""); code != http.StatusOK || !strings.Contains(body, "APPLICATION_ID=x") {
		t.Errorf("GET the instance started over the API = %d %s", code, body)
	}
	if code, body := call(t, client, http.MethodDelete, base+"/instances/"+killed[0], ""); code != http.StatusOK {
		t.Fatalf("DELETE instances/%s = %d %s, want 200", killed[0], code, body)
	}
	if code, _ := call(t, client, http.MethodGet, base+"/instances/"+killed[0], ""); code != http.StatusNotFound {
		t.Errorf("GET a deleted instance = %d, want 404", code)
	}
	testenv.Eventually(t, 60*time.Second, "the silent member to be replaced by a new Active one", func() bool {
		ms := activeMembers(s, clusterID)
		return len(ms) == 1 && ms[0] != killed[0]
	})
	if s.app.CEP().Stats().Faults == 0 {
		t.Error("the member was replaced without a fault from the CEP")
	}
}

// activeMembers returns the ids of a cluster's Active members.
func activeMembers(s *started, clusterID string) []string {
	var out []string
	for _, m := range s.app.Controller().Members(clusterID) {
		if m.Status() == model.MemberActive {
			out = append(out, m.MemberID)
		}
	}
	slices.Sort(out)
	return out
}
