package mock

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	d := runDriver(t, Options{Bus: newFakeBus(), Clock: newFakeClock()})
	startInstance(t, d, "m1", "php")
	startInstance(t, d, "m2", "php")
	srv := httptest.NewServer(http.StripPrefix("/mock-iaas/api", d.Handler()))
	defer srv.Close()
	get := func(path string, v any) int {
		t.Helper()
		resp, err := http.Get(srv.URL + "/mock-iaas/api" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if v != nil {
			json.NewDecoder(resp.Body).Decode(v)
		}
		return resp.StatusCode
	}
	var list []InstanceMetadata
	if s := get("/instances", &list); s != http.StatusOK || len(list) != 2 || list[0].InstanceID != "m1" {
		t.Fatalf("GET /instances: %d %+v", s, list)
	}
	var m InstanceMetadata
	if s := get("/instances/m2", &m); s != http.StatusOK || m.Payload != "APPLICATION_ID=app1" || m.PrivateIPs[0] != "10.0.0.2" {
		t.Errorf("GET /instances/m2: %d %+v", s, m)
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/mock-iaas/api/instances/m1", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("DELETE: %d", resp.StatusCode)
	}
	if s := get("/instances/m1", nil); s != http.StatusNotFound {
		t.Errorf("GET a killed instance: %d", s)
	}
	var st struct {
		Instances int `json:"instances"`
	}
	if get("/status", &st); st.Instances != 1 {
		t.Errorf("status: %+v", st)
	}
}

// TestHandlerStartAndAllocate: POST /instances starts a mock instance from Stratos'
// MockInstanceContext (instance id = member id, the payload line parsed), and POST
// /instances/{id}/allocateIpAddress answers its default private and public addresses, as Stratos'
// MockInstanceMetadata; bad bodies get 400, unknown instances 404.
func TestHandlerStartAndAllocate(t *testing.T) {
	d := runDriver(t, Options{Bus: newFakeBus(), Clock: newFakeClock()})
	srv := httptest.NewServer(http.StripPrefix("/mock-iaas/api", d.Handler()))
	defer srv.Close()
	post := func(path, body string, v any) int {
		t.Helper()
		resp, err := http.Post(srv.URL+"/mock-iaas/api"+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if v != nil {
			json.NewDecoder(resp.Body).Decode(v)
		}
		return resp.StatusCode
	}
	var m InstanceMetadata
	body := `{"applicationId":"app1","serviceName":"php","clusterId":"app1.php.php.domain","memberId":"m9",
		"clusterInstanceId":"app1-1","networkPartitionId":"np1","partitionId":"p1","payload":"APPLICATION_ID=app1,MEMBER_ID=m9"}`
	if s := post("/instances", body, &m); s != http.StatusOK || m.InstanceID != "m9" || m.ServiceName != "php" ||
		m.Payload != "APPLICATION_ID=app1,MEMBER_ID=m9" || m.DefaultPrivateIP == "" {
		t.Fatalf("POST /instances: %d %+v", s, m)
	}
	if st := d.Stats(); st.Instances != 1 {
		t.Errorf("instances after POST: %d, want 1", st.Instances)
	}
	var a InstanceMetadata
	if s := post("/instances/m9/allocateIpAddress", "", &a); s != http.StatusOK || a.InstanceID != "m9" ||
		a.DefaultPrivateIP != m.DefaultPrivateIP || !strings.HasPrefix(a.DefaultPublicIP, "20.0.0.") {
		t.Errorf("POST allocateIpAddress: %d %+v", s, a)
	}
	for _, tc := range []struct{ path, body string }{
		{"/instances", `{"serviceName":"php"}`},            // no member id
		{"/instances", `{"memberId":`},                     // not JSON
		{"/instances", `{"memberId":"m8","payload":"=x"}`}, // a bad payload line
	} {
		if s := post(tc.path, tc.body, nil); s != http.StatusBadRequest {
			t.Errorf("POST %s %s: %d, want 400", tc.path, tc.body, s)
		}
	}
	if s := post("/instances", body, nil); s != http.StatusConflict {
		t.Errorf("POST /instances twice: %d, want 409", s)
	}
	if s := post("/instances/nope/allocateIpAddress", "", nil); s != http.StatusNotFound {
		t.Errorf("allocateIpAddress of an unknown instance: %d, want 404", s)
	}
}
