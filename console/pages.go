package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/strata-paas/strata/autoscaler"
	"github.com/strata-paas/strata/internal/model"
)

// chartRanges are how far back the cluster page's charts may go (?range=); the first is the
// default. A cluster younger than the range is charted from its first lifecycle record.
var chartRanges = []time.Duration{15 * time.Minute, 5 * time.Minute, time.Hour, 6 * time.Hour}

// chartBuckets is about how many buckets a chart's time axis has.
const chartBuckets = 120

func (c *Console) appsPage(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r.Context())
	apps, err := c.applications(r.Context(), s)
	if err != nil {
		c.apiFailed(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "apps", map[string]any{"Apps": apps})
}

// appView is what the application page and its live tree show.
type appView struct {
	App       application
	Runtime   runtimeView
	Instances []instanceView
	Policies  []string // application policies to deploy with
	CanManage bool
}

func (c *Console) loadApp(r *http.Request) (appView, error) {
	s := sessionFrom(r.Context())
	a, rt, err := c.application(r.Context(), s, chi.URLParam(r, "app"))
	if err != nil {
		return appView{}, err
	}
	v := appView{App: a, Runtime: rt, Instances: buildTree(a, rt), CanManage: s.can("applications", "manage")}
	if v.CanManage && s.can("applicationPolicies", "view") {
		var ps []struct {
			ID string `json:"id"`
		}
		if err := c.api(r.Context(), s.creds(), http.MethodGet, "/api/applicationPolicies", nil, &ps); err == nil {
			for _, p := range ps {
				v.Policies = append(v.Policies, p.ID)
			}
		}
	}
	return v, nil
}

func (c *Console) appPage(w http.ResponseWriter, r *http.Request) {
	v, err := c.loadApp(r)
	if err != nil {
		c.apiFailed(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "app", v)
}

// treeFragment is the application's tree alone, which the page fetches again on a topology event.
func (c *Console) treeFragment(w http.ResponseWriter, r *http.Request) {
	v, err := c.loadApp(r)
	if err != nil {
		c.apiFailed(w, r, err)
		return
	}
	c.renderFragment(w, r, "tree", v)
}

// memberRow is a line of the cluster page's member table.
type memberRow struct {
	member
	Since      time.Time // when the member entered its state, from the lifecycle history
	LastHealth string
}

func (c *Console) clusterPage(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r.Context())
	ctx := r.Context()
	appID, clusterID := chi.URLParam(r, "app"), chi.URLParam(r, "cluster")
	a, rt, err := c.application(ctx, s, appID)
	if err != nil {
		c.apiFailed(w, r, err)
		return
	}
	var cv *clusterView
	for _, iv := range buildTree(a, rt) {
		for _, cl := range allClusters(iv) {
			if cl.ClusterID == clusterID {
				if cv == nil {
					cv = &cl
				} else {
					cv.Members = append(cv.Members, cl.Members...)
				}
			}
		}
	}
	if cv == nil {
		c.fail(w, r, http.StatusNotFound, "no cluster "+clusterID+" in application "+appID)
		return
	}
	now := c.opts.Now().UTC()
	span := chartRanges[0]
	if v, err := time.ParseDuration(r.URL.Query().Get("range")); err == nil && slices.Contains(chartRanges, v) {
		span = v
	}
	var problems []string
	var lifecycle []model.LifecycleRecord
	lq := url.Values{"cluster": {clusterID}, "from": {now.Add(-max(span, 24*time.Hour)).Format(time.RFC3339)}, "limit": {"10000"}}
	if err := c.history(ctx, s, "lifecycle", lq, &lifecycle); err != nil {
		problems = append(problems, "lifecycle: "+err.Error())
	}
	from := now.Add(-span)
	if first, ok := firstRecord(lifecycle); ok && first.After(from) {
		from = first.Add(-5 * time.Second).Truncate(time.Second)
	}
	step := max(time.Second, now.Sub(from)/chartBuckets).Round(time.Second)
	var policy autoscalingPolicy
	if cart, ok := cartridgeOf(a, cv.Alias); ok && cart.SubscribableInfo.AutoscalingPolicy != "" {
		_ = c.api(ctx, s.creds(), http.MethodGet, "/api/autoscalingPolicies/"+url.PathEscape(cart.SubscribableInfo.AutoscalingPolicy), nil, &policy)
	}
	var decisions []model.Decision
	dq := url.Values{"cluster": {clusterID}, "from": {from.Format(time.RFC3339)}, "limit": {"1000"}}
	if err := c.history(ctx, s, "decisions", dq, &decisions); err != nil {
		problems = append(problems, "decisions: "+err.Error())
	}
	var marks []decisionMark
	for _, d := range decisions {
		if d.Action == "" || d.Action == "none" {
			continue
		}
		label := fmt.Sprintf("%s %s %+d: %s", d.Time.UTC().Format("15:04:05"), d.Action, d.Delta, d.Reason)
		marks = append(marks, decisionMark{T: d.Time, Label: label, Href: decisionHref(appID, clusterID, d.ID)})
	}
	cw := chartWindow{cluster: clusterID, from: from, to: now, step: step, policy: policy, marks: marks, members: len(cv.Members)}
	charts, lastHealth, chartProblems := c.charts(ctx, s, cw)
	problems = append(problems, chartProblems...)
	// When each member entered its current state: its newest record of that state.
	since := map[string]time.Time{}
	state := map[string]string{}
	for _, m := range cv.Members {
		state[m.MemberID] = m.Status
	}
	for _, l := range lifecycle {
		if l.MemberID != "" && state[l.MemberID] == l.Status && l.Time.After(since[l.MemberID]) {
			since[l.MemberID] = l.Time
		}
	}
	rows := make([]memberRow, 0, len(cv.Members))
	for _, m := range cv.Members {
		rows = append(rows, memberRow{member: m, Since: since[m.MemberID], LastHealth: strings.Join(lastHealth[m.MemberID], ", ")})
	}
	c.render(w, r, http.StatusOK, "cluster", map[string]any{
		"App": a, "Cluster": cv, "Members": rows, "Charts": charts, "Policy": policy, "Problems": problems,
		"Decisions": len(decisions), "Now": now, "Range": span, "Ranges": chartRanges, "Drawn": maxMemberLines,
		"CanManage": s.can("applications", "manage"),
	})
}

// firstRecord is the time of the oldest lifecycle record.
func firstRecord(ls []model.LifecycleRecord) (time.Time, bool) {
	var first time.Time
	for _, l := range ls {
		if first.IsZero() || l.Time.Before(first) {
			first = l.Time
		}
	}
	return first, !first.IsZero()
}

// allClusters lists the clusters of an instance, groups included.
func allClusters(iv instanceView) []clusterView {
	out := slices.Clone(iv.Clusters)
	var walk func([]groupView)
	walk = func(gs []groupView) {
		for _, g := range gs {
			out = append(out, g.Clusters...)
			walk(g.Groups)
		}
	}
	walk(iv.Groups)
	return out
}

func decisionHref(appID, clusterID, id string) string {
	return "/apps/" + url.PathEscape(appID) + "/clusters/" + url.PathEscape(clusterID) + "/decisions#" + decisionAnchor(id)
}

// decisionAnchor is the HTML id of a decision on the decisions page.
func decisionAnchor(id string) string {
	var b strings.Builder
	b.WriteString("d-")
	for _, r := range id {
		if r < 128 && (r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// decisionRow is a decision on the decisions page, with its trace as `strata explain` prints it.
type decisionRow struct {
	model.Decision
	Anchor string
	Trace  string
}

func (c *Console) decisionsPage(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r.Context())
	appID, clusterID := chi.URLParam(r, "app"), chi.URLParam(r, "cluster")
	var ds []model.Decision
	q := url.Values{"cluster": {clusterID}, "from": {"24h"}, "limit": {"200"}}
	if err := c.history(r.Context(), s, "decisions", q, &ds); err != nil {
		c.apiFailed(w, r, err)
		return
	}
	// The API answers newest first, as the page shows them.
	rows := make([]decisionRow, 0, len(ds))
	for _, d := range ds {
		var b bytes.Buffer
		if err := autoscaler.RenderTrace(&b, d); err != nil {
			b.WriteString("the trace cannot be read: " + err.Error())
		}
		rows = append(rows, decisionRow{Decision: d, Anchor: decisionAnchor(d.ID), Trace: b.String()})
	}
	c.render(w, r, http.StatusOK, "decisions", map[string]any{"AppID": appID, "ClusterID": clusterID, "Decisions": rows})
}

// policyDoc is one policy as the API returns it, indented.
type policyDoc struct {
	ID, JSON string
}

func (c *Console) policiesPage(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r.Context())
	kinds := []struct{ Title, Path string }{
		{"Autoscaling policies", "/api/autoscalingPolicies"},
		{"Deployment policies", "/api/deploymentPolicies"},
		{"Application policies", "/api/applicationPolicies"},
		{"Network partitions", "/api/networkPartitions"},
	}
	type section struct {
		Title    string
		Policies []policyDoc
		Problem  string
	}
	var sections []section
	for _, k := range kinds {
		sec := section{Title: k.Title}
		var raw []json.RawMessage
		if err := c.api(r.Context(), s.creds(), http.MethodGet, k.Path, nil, &raw); err != nil {
			if ae := (*apiError)(nil); !errors.As(err, &ae) || ae.Code != http.StatusNotFound {
				sec.Problem = err.Error()
			}
		}
		for _, p := range raw {
			var id struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(p, &id)
			var b bytes.Buffer
			_ = json.Indent(&b, p, "", "  ")
			sec.Policies = append(sec.Policies, policyDoc{ID: id.ID, JSON: b.String()})
		}
		sections = append(sections, sec)
	}
	var dir json.RawMessage
	dirText, dirProblem := "", ""
	if err := c.api(r.Context(), s.creds(), http.MethodGet, "/api/policyDirectory", nil, &dir); err != nil {
		dirProblem = err.Error()
	} else {
		var b bytes.Buffer
		_ = json.Indent(&b, dir, "", "  ")
		dirText = b.String()
	}
	c.render(w, r, http.StatusOK, "policies", map[string]any{"Sections": sections, "Directory": dirText, "DirectoryProblem": dirProblem})
}
