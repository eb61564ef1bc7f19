package manager

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
)

// TestReadyzReportsEachCheck: /readyz answers without credentials, 200 while every check is ok and
// 503 naming the failing check and its reason otherwise; /healthz stays 200 (liveness).
func TestReadyzReportsEachCheck(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	checks := map[string]string{"broker": "ok", "history": "ok", "controller": "ok"}
	e.srv.opts.Readiness = func() map[string]string {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[string]string, len(checks))
		for k, v := range checks {
			out[k] = v
		}
		return out
	}
	read := func() (int, readiness) {
		t.Helper()
		r := e.do(http.MethodGet, "/readyz", "", "", nil)
		var body readiness
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatalf("GET /readyz body %q: %v", r.body, err)
		}
		return r.code, body
	}
	if code, body := read(); code != http.StatusOK || body.Status != "ready" || body.Checks["broker"] != "ok" {
		t.Fatalf("GET /readyz = %d %+v, want 200 ready", code, body)
	}
	mu.Lock()
	checks["broker"] = "disconnected from tcp://127.0.0.1:1"
	mu.Unlock()
	code, body := read()
	if code != http.StatusServiceUnavailable || body.Status != "not ready" || body.Checks["broker"] != "disconnected from tcp://127.0.0.1:1" || body.Checks["history"] != "ok" {
		t.Fatalf("GET /readyz with the broker down = %d %+v, want 503 naming the broker", code, body)
	}
	if r := e.do(http.MethodGet, "/healthz", "", "", nil); r.code != http.StatusOK {
		t.Errorf("GET /healthz while not ready = %d, want 200 (liveness)", r.code)
	}
}
