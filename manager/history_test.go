package manager

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/model"
)

// fakeHistory is a hand-written fake of History: it remembers the last query.
type fakeHistory struct {
	health history.HealthQuery
	logs   history.LogQuery
}

func (h *fakeHistory) Health(_ context.Context, q history.HealthQuery) ([]history.Point, error) {
	h.health = q
	return []history.Point{{Time: q.From, Metric: q.Metric, ClusterID: q.ClusterID, Count: 2, Avg: 1.5}}, nil
}
func (h *fakeHistory) Summaries(context.Context, history.SummaryQuery) ([]history.Point, error) {
	return nil, nil
}
func (h *fakeHistory) Logs(_ context.Context, q history.LogQuery) ([]model.LogEntry, error) {
	h.logs = q
	return nil, nil
}
func (h *fakeHistory) Lifecycle(context.Context, history.LifecycleQuery) ([]model.LifecycleRecord, error) {
	return nil, nil
}
func (h *fakeHistory) Decisions(context.Context, history.DecisionQuery) ([]model.Decision, error) {
	return nil, nil
}

func TestHistoryEndpoints(t *testing.T) {
	e := newEnv(t)
	setupTenants(t, e)
	fh := &fakeHistory{}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	s, err := New(Options{Listener: ln, Users: e.srv.opts.Users, Logger: slog.New(slog.DiscardHandler), Policies: e.srv.opts.Policies,
		Clusters: e.plat, Scaler: e.plat, History: fh})
	if err != nil {
		t.Fatal(err)
	}
	e.srv, e.h = s, s.Handler()
	r := e.admin("GET", "/api/history/health?cluster=c1&metric=load_average&from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z&step=30s", nil)
	expect(t, "health", r, http.StatusOK, "")
	var pts []history.Point
	_ = json.Unmarshal(r.body, &pts)
	if len(pts) != 1 || fh.health.Step != 30*time.Second || fh.health.ClusterID != "c1" || fh.health.To.Hour() != 1 {
		t.Errorf("health query %+v, answer %s", fh.health, r.body)
	}
	expect(t, "logs", e.admin("GET", "/api/history/logs?cluster=c1&contains=ERROR&from=1h&limit=10", nil), http.StatusOK, "")
	if fh.logs.Contains != "ERROR" || fh.logs.Limit != 10 || time.Since(fh.logs.From) < 59*time.Minute {
		t.Errorf("logs query %+v", fh.logs)
	}
	for _, p := range []string{"/api/history/summaries", "/api/history/lifecycle", "/api/history/decisions"} {
		expect(t, p, e.admin("GET", p+"?cluster=c1", nil), http.StatusOK, "")
	}
	expect(t, "bad step", e.admin("GET", "/api/history/health?step=soon", nil), http.StatusBadRequest, "step")
	// A tenant must name a cluster of its own.
	expect(t, "tenant without cluster", e.do("GET", "/api/history/health", "boss@a.com", "boss-secret-a.com", nil), http.StatusForbidden, "")
}
