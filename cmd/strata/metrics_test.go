package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/testenv"
)

// dashboardMetrics returns the metric names the Prometheus dashboard queries, from its panels'
// expressions and its variables' label_values.
func dashboardMetrics(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../dashboards/strata-metrics.json")
	if err != nil {
		t.Fatal(err)
	}
	type target struct{ Expr string }
	var dash struct {
		Panels     []struct{ Targets []target }
		Templating struct {
			List []struct {
				Type, Definition string
			}
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboards/strata-metrics.json: %v", err)
	}
	var (
		labels   = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]|"[^"]*"`)
		grouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
		ident    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
		values   = regexp.MustCompile(`label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)`)
		keywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "le": true}
	)
	seen := map[string]bool{}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			expr := grouping.ReplaceAllString(labels.ReplaceAllString(tg.Expr, ""), "")
			for _, m := range ident.FindAllString(expr, -1) {
				if strings.HasSuffix(m, "(") || keywords[m] {
					continue // a function, or an operator
				}
				seen[m] = true
			}
		}
	}
	for _, v := range dash.Templating.List {
		if m := values.FindStringSubmatch(v.Definition); m != nil {
			seen[m[1]] = true
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) < 20 {
		t.Fatalf("the dashboard queries only %v", names)
	}
	return names
}

// scrape GETs /metrics.
func scrape(api string) (string, error) {
	resp, err := http.Get("http://" + api + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// TestUpMetricsDashboard: every metric the Grafana dashboard dashboards/strata-metrics.json
// queries is on /metrics of a `strata up` that answered one API call.
func TestUpMetricsDashboard(t *testing.T) {
	t.Parallel()
	a, args := upArgs(t)
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, args...)
	p.waitHTTP(t, "http://"+a.api+"/healthz")
	if code, body, _ := get(t, "http://"+a.api+"/api/session", "admin", "s3cret-pass"); code != http.StatusOK {
		t.Fatalf("GET /api/session: %d %s", code, body)
	}
	text, err := scrape(a.api)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for k := range testenv.ParseMetrics(t, text) {
		have[testenv.MetricName(k)] = true
	}
	for _, name := range dashboardMetrics(t) {
		if !have[name] {
			t.Errorf("the dashboard queries %s, which /metrics does not have", name)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", text)
	}
}

// metricsWatch scrapes a running strata's /metrics every 2 s, after an API call of its own, and
// keeps the largest value each series had.
type metricsWatch struct {
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	mu       sync.Mutex
	raw      []string
}

func watchMetrics(t *testing.T, api, user, password string) *metricsWatch {
	w := &metricsWatch{stop: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(w.halt)
	go func() {
		defer close(w.done)
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			if req, err := http.NewRequest(http.MethodGet, "http://"+api+"/api/session", nil); err == nil {
				req.SetBasicAuth(user, password)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
			if text, err := scrape(api); err == nil {
				w.mu.Lock()
				w.raw = append(w.raw, text)
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *metricsWatch) halt() {
	w.stopOnce.Do(func() { close(w.stop) })
	<-w.done
}

// max stops the watch and returns each series' largest value over the scrapes.
func (w *metricsWatch) max(t *testing.T) map[string]float64 {
	t.Helper()
	w.halt()
	out := map[string]float64{}
	for _, text := range w.raw {
		for k, v := range testenv.ParseMetrics(t, text) {
			if old, ok := out[k]; !ok || v > old {
				out[k] = v
			}
		}
	}
	if len(w.raw) == 0 {
		t.Error("no scrape of /metrics succeeded")
	}
	return out
}

// checkPlatformMetrics asserts that every component of the platform had a non-zero series on
// /metrics during a run that deployed, scaled and served load-balancer traffic.
func checkPlatformMetrics(t *testing.T, got map[string]float64) {
	t.Helper()
	for _, c := range []struct{ component, series string }{
		{"REST API", `strata_http_requests_total{code="200",method="GET",route="/api/session"}`},
		{"REST API", `strata_http_request_duration_seconds_count{method="GET",route="/api/session"}`},
		{"autoscaler", "strata_autoscaler_rounds_total"},
		{"autoscaler", "strata_autoscaler_round_seconds_count"},
		{"autoscaler", `strata_autoscaler_decisions_total{action="scale-up",mode="enforce"}`},
		{"controller", `strata_controller_members{state="Active"}`},
		{"controller", "strata_controller_member_starts_total"},
		{"controller", "strata_controller_member_terminations_total"},
		{"load balancer", `strata_lb_requests_total{result="proxied"}`},
		{"history", `strata_history_rows_written_total{backend="memory"}`},
		{"CEP", "strata_cep_ingested_total"},
		{"broker", "strata_broker_messages_received_total"},
		{"Go runtime", "go_goroutines"},
		{"process", "process_cpu_seconds_total"},
	} {
		if got[c.series] <= 0 {
			t.Errorf("%s: %s = %v, want > 0", c.component, c.series, got[c.series])
		}
	}
	if _, ok := got["strata_lb_requests_in_flight"]; !ok {
		t.Error("load balancer: no strata_lb_requests_in_flight")
	}
}
