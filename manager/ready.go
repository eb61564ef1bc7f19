package manager

import (
	"maps"
	"net/http"
	"slices"
)

// readiness is the body of GET /readyz.
type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

// getReady answers GET /readyz: 200 when every check of Options.Readiness says "ok", 503 with
// each failing check's reason otherwise. Unlike /healthz (the process answers), it tells whether
// the platform can do its work.
func (s *Server) getReady(w http.ResponseWriter, _ *http.Request) {
	var checks map[string]string
	if s.opts.Readiness != nil {
		checks = s.opts.Readiness()
	}
	body, code := readiness{Status: "ready", Checks: checks}, http.StatusOK
	for _, k := range slices.Sorted(maps.Keys(checks)) {
		if checks[k] != "ok" {
			body.Status, code = "not ready", http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, body)
}
