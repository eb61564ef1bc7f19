package mock

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
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
