package manager

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/strata-paas/strata/internal/testenv"
)

// TestHTTPMetrics: requests are counted by method, chi route pattern and code, and timed by
// method and route; a raw path or a made-up method never becomes a label value.
func TestHTTPMetrics(t *testing.T) {
	e := newEnv(t)
	e.admin("GET", "/api/session", nil)
	e.admin("GET", "/api/session", nil)
	e.admin("GET", "/api/applications/no-such-app-1", nil)
	e.admin("GET", "/api/v4.1/applications/no-such-app-2", nil)
	e.do("GET", "/api/applications", "admin", "wrong", nil)
	e.do("BREW", "/no/such/path/x1", "", "", nil)

	got := testenv.Gather(t, e.srv.Collector())
	for k, v := range map[string]float64{
		`strata_http_requests_total{code="200",method="GET",route="/api/session"}`: 2,
		// Authentication runs before the subrouter matches a route.
		`strata_http_requests_total{code="401",method="GET",route="/api/*"}`:                              1,
		`strata_http_requests_total{code="404",method="GET",route="/api/applications/{appId}"}`:           1,
		`strata_http_requests_total{code="404",method="GET",route="/api/v4.1/applications/{appId}"}`:      1,
		`strata_http_requests_total{code="405",method="other",route="unmatched"}`:                         1,
		`strata_http_request_duration_seconds_count{method="GET",route="/api/session"}`:                   2,
		`strata_http_request_duration_seconds_count{method="GET",route="/api/v4.1/applications/{appId}"}`: 1,
		"strata_http_requests_in_flight": 0,
	} {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	for k := range got {
		if strings.Contains(k, "no-such-app") || strings.Contains(k, "/x1") || strings.Contains(k, "BREW") {
			t.Errorf("a raw path or method became a label: %s", k)
		}
	}
	if t.Failed() {
		t.Logf("series: %v", got)
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d discard) Header() http.Header       { return d.h }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// TestHTTPMetricsAllocs pins counting and timing a request on a route seen before at 0
// allocations.
func TestHTTPMetricsAllocs(t *testing.T) {
	m := newHTTPMetrics()
	h := m.middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	rctx := chi.NewRouteContext()
	rctx.RoutePatterns = []string{"/api/*", "/applications/{appId}"}
	req := httptest.NewRequest("GET", "/api/applications/x", nil)
	req = req.WithContext(context.WithValue(req.Context(), chi.RouteCtxKey, rctx))
	w := discard{h: http.Header{}}
	h.ServeHTTP(w, req)
	if n := testing.AllocsPerRun(200, func() { h.ServeHTTP(w, req) }); n != 0 {
		t.Errorf("%v allocations per request, want 0", n)
	}
	got := testenv.Gather(t, m)
	if k := `strata_http_requests_total{code="204",method="GET",route="/api/applications/{appId}"}`; got[k] != 202 {
		t.Errorf("%s = %v, want 202", k, got[k])
	}
}
