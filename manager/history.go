package manager

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/model"
)

// /api/history/...: dashboard queries over the history store. Common query parameters:
//
//	cluster, instance, member   ids (a tenant must name a cluster of its own applications)
//	from, to                    RFC 3339 times, Unix seconds, or a duration back from now ("1h")
//	step                        bucket width for health and summaries, a Go duration ("30s")
//	metric (health), kind (summaries), contains (logs), application (lifecycle), limit

// historyParams is the parsed common part of a history query.
type historyParams struct {
	cluster, instance, member string
	from, to                  time.Time
	step                      time.Duration
	limit                     int
}

func parseTime(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	if d, err := time.ParseDuration(strings.TrimPrefix(v, "-")); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time, Unix seconds or a duration", v)
}

func (s *Server) historyQuery(w http.ResponseWriter, r *http.Request) (historyParams, url.Values, bool) {
	q := r.URL.Query()
	var p historyParams
	var errs []error
	now := time.Now().UTC()
	p.cluster, p.instance, p.member = q.Get("cluster"), q.Get("instance"), q.Get("member")
	var err error
	if p.from, err = parseTime(q.Get("from"), now); err != nil {
		errs = append(errs, fmt.Errorf("from %w", err))
	}
	if p.to, err = parseTime(q.Get("to"), now); err != nil {
		errs = append(errs, fmt.Errorf("to %w", err))
	}
	if p.from.IsZero() {
		p.from = now.Add(-time.Hour)
	}
	if v := q.Get("step"); v != "" {
		if p.step, err = time.ParseDuration(v); err != nil || p.step <= 0 {
			errs = append(errs, fmt.Errorf("step %q: want a positive duration such as 30s", v))
		}
	} else {
		p.step = time.Minute
	}
	if v := q.Get("limit"); v != "" {
		if p.limit, err = strconv.Atoi(v); err != nil || p.limit < 0 {
			errs = append(errs, fmt.Errorf("limit %q: want a non-negative integer", v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		writeError(w, http.StatusBadRequest, "History query is not valid: "+errorText(err))
		return p, q, false
	}
	if s.opts.History == nil {
		writeError(w, http.StatusServiceUnavailable, "no history store is configured")
		return p, q, false
	}
	// Tenants see the history of their own applications' clusters only.
	u, _ := UserFrom(r.Context())
	if !(u.TenantDomain == SuperTenantDomain && u.Role == RoleAdmin) {
		var a applicationRecord
		found := false
		if top := s.opts.Clusters.Topology(); top != nil && p.cluster != "" {
			if c := top.Cluster(p.cluster); c != nil && s.store.get(bucketApplications, c.AppID, &a) == nil {
				found = visible(u, &a)
			}
		}
		if !found {
			writeError(w, http.StatusForbidden, "name a cluster of your own applications with ?cluster=")
			return p, q, false
		}
	}
	return p, q, true
}

func (s *Server) historyAnswer(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeError(w, http.StatusBadRequest, "History query failed: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) historyHealth(w http.ResponseWriter, r *http.Request) {
	p, q, ok := s.historyQuery(w, r)
	if !ok {
		return
	}
	pts, err := s.opts.History.Health(r.Context(), history.HealthQuery{ClusterID: p.cluster, ClusterInstanceID: p.instance,
		MemberID: p.member, Metric: q.Get("metric"), From: p.from, To: p.to, Step: p.step})
	s.historyAnswer(w, orEmpty(pts), err)
}

func (s *Server) historySummaries(w http.ResponseWriter, r *http.Request) {
	p, q, ok := s.historyQuery(w, r)
	if !ok {
		return
	}
	var kind model.SummaryKind
	if v := q.Get("kind"); v != "" {
		found := false
		for k := model.SummaryKind(1); k < 32; k++ {
			if strings.EqualFold(k.String(), v) {
				kind, found = k, true
				break
			}
		}
		if !found {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("History query is not valid: kind %q: unknown summary kind", v))
			return
		}
	}
	pts, err := s.opts.History.Summaries(r.Context(), history.SummaryQuery{ClusterID: p.cluster, ClusterInstanceID: p.instance,
		MemberID: p.member, Kind: kind, From: p.from, To: p.to, Step: p.step})
	s.historyAnswer(w, orEmpty(pts), err)
}

func (s *Server) historyLogs(w http.ResponseWriter, r *http.Request) {
	p, q, ok := s.historyQuery(w, r)
	if !ok {
		return
	}
	logs, err := s.opts.History.Logs(r.Context(), history.LogQuery{ClusterID: p.cluster, MemberID: p.member,
		Contains: q.Get("contains"), From: p.from, To: p.to, Limit: p.limit})
	s.historyAnswer(w, orEmpty(logs), err)
}

func (s *Server) historyLifecycle(w http.ResponseWriter, r *http.Request) {
	p, q, ok := s.historyQuery(w, r)
	if !ok {
		return
	}
	recs, err := s.opts.History.Lifecycle(r.Context(), history.LifecycleQuery{ClusterID: p.cluster, MemberID: p.member,
		ApplicationID: q.Get("application"), From: p.from, To: p.to, Limit: p.limit})
	s.historyAnswer(w, orEmpty(recs), err)
}

func (s *Server) historyDecisions(w http.ResponseWriter, r *http.Request) {
	p, _, ok := s.historyQuery(w, r)
	if !ok {
		return
	}
	ds, err := s.opts.History.Decisions(r.Context(), history.DecisionQuery{ClusterID: p.cluster, ClusterInstanceID: p.instance,
		From: p.from, To: p.to, Limit: p.limit})
	s.historyAnswer(w, orEmpty(ds), err)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
