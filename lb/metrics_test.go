package lb

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// TestCollector: requests by result, upstream errors, retries and requests in flight reach the
// collector.
func TestCollector(t *testing.T) {
	release := make(chan struct{})
	held := make(chan struct{}, 1)
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("hold") != "" {
			held <- struct{}{}
			<-release
		}
		w.Write([]byte("slow"))
	})
	dead, dead2 := freePort(t), freePort(t)
	proxy := freePort(t)
	l, fb := startLB(t, Options{DialTimeout: time.Second})
	fb.send(&model.CompleteTopologyEvent{Topology: topology(proxy,
		clusterWith("php", "up", []string{"up"}, proxy,
			memberSpec{"a", "ci1", slow.port, model.MemberActive}, memberSpec{"b", "ci1", dead, model.MemberActive}),
		clusterWith("php", "down", []string{"down"}, proxy, memberSpec{"c", "ci2", dead2, model.MemberActive}),
		clusterWith("php", "starting", []string{"starting"}, proxy, memberSpec{"d", "ci3", slow.port, model.MemberStarting}),
	)})
	for range 4 {
		if code, _ := get(t, proxy, "up"); code != 200 {
			t.Fatalf("up: %d", code)
		}
	}
	if code, _ := get(t, proxy, "down"); code != http.StatusBadGateway {
		t.Errorf("down: %d, want 502", code)
	}
	if code, _ := get(t, proxy, "starting"); code != http.StatusServiceUnavailable {
		t.Errorf("starting: %d, want 503", code)
	}
	if code, _ := get(t, proxy, "nobody"); code != http.StatusNotFound {
		t.Errorf("nobody: %d, want 404", code)
	}
	// One request held by the member is in flight.
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, _ := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(proxy)+"/x?hold=1", nil)
		req.Host = "up"
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-held
	got := testenv.Gather(t, l.Collector())
	close(release)
	<-done
	want := map[string]float64{
		`strata_lb_requests_total{result="proxied"}`:    6, // 4 up, 1 down, 1 held
		`strata_lb_requests_total{result="no_cluster"}`: 1,
		`strata_lb_requests_total{result="no_member"}`:  1,
		"strata_lb_upstream_errors_total":               1,
		"strata_lb_requests_in_flight":                  1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if got["strata_lb_upstream_retries_total"] < 1 {
		t.Errorf("strata_lb_upstream_retries_total = %v, want >= 1 (the dead member of up)", got["strata_lb_upstream_retries_total"])
	}
	// The handler returns just after the client has its answer.
	testenv.Eventually(t, 5*time.Second, "no request in flight after the last answer", func() bool {
		return testenv.Gather(t, l.Collector())["strata_lb_requests_in_flight"] == 0
	})
}
