package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// pagedApp is an httptest runtime view with paging as the manager serves it: ?limit=N&after=ID
// lists at most N members in id order with next while more follow, memberCounts on every
// cluster instance, and without limit the whole view.
type pagedApp struct {
	clusters []pagedCluster
	mu       sync.Mutex
	queries  []string // the query of each request
}

type pagedCluster struct {
	id, instance string
	members      []string // ids, in order
	states       func(i int) string
}

func (p *pagedApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.queries = append(p.queries, r.URL.RawQuery)
	p.mu.Unlock()
	q := r.URL.Query()
	limit, after := -1, q.Get("after")
	if q.Has("limit") {
		limit, _ = strconv.Atoi(q.Get("limit"))
	}
	var ids []string
	for _, c := range p.clusters {
		for _, id := range c.members {
			if id > after {
				ids = append(ids, id)
			}
		}
	}
	next := ""
	if limit >= 0 && len(ids) > limit {
		ids = ids[:limit]
		if limit > 0 {
			next = ids[len(ids)-1]
		}
	}
	keep := map[string]bool{}
	for _, id := range ids {
		keep[id] = true
	}
	var cis []map[string]any
	for _, c := range p.clusters {
		counts := map[string]int{}
		members := []map[string]any{}
		for i, id := range c.members {
			counts[c.states(i)]++
			if keep[id] {
				members = append(members, map[string]any{"memberId": id, "clusterId": c.id, "status": c.states(i),
					"networkPartitionId": "np", "partitionId": "p1", "defaultPrivateIP": "10.0.0.1"})
			}
		}
		cis = append(cis, map[string]any{"instanceId": c.instance, "clusterId": c.id, "status": "Active",
			"alias": "web", "serviceName": "php", "memberCounts": counts, "member": members})
	}
	view := map[string]any{"id": "app", "status": "Active", "tenantDomain": "carbon.super",
		"applicationInstances": []any{map[string]any{"instanceId": "app-1", "status": "Active", "clusterInstances": cis}}}
	if next != "" {
		view["next"] = next
	}
	_ = json.NewEncoder(w).Encode(view)
}

// twoClusters is an application of 2,500 members: 1,500 in one cluster instance (every tenth
// Starting), 1,000 in another.
func twoClusters() *pagedApp {
	ids := func(prefix string, n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("%s-%05d", prefix, i))
		}
		return out
	}
	return &pagedApp{clusters: []pagedCluster{
		{id: "app.a.php.domain", instance: "app-1", members: ids("a", 1500), states: func(i int) string {
			if i%10 == 0 {
				return "Starting"
			}
			return "Active"
		}},
		{id: "app.b.php.domain", instance: "app-1", members: ids("b", 1000), states: func(int) string { return "Active" }},
	}}
}

// --members walks the pages: 2,500 members in three calls of at most 1,000, merged into the
// document the view without ?limit is, member for member.
func TestRuntimeViewWalksThePages(t *testing.T) {
	app := twoClusters()
	ts := httptest.NewServer(app)
	defer ts.Close()
	c := &Client{URL: ts.URL}
	raw, err := c.RuntimeView(context.Background(), "app", true, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"limit=1000&after=", "limit=1000&after=a-00999", "limit=1000&after=b-00499"}
	if !reflect.DeepEqual(app.queries, want) {
		t.Errorf("queries %q, want %q", app.queries, want)
	}
	var whole json.RawMessage
	if err := c.Call(context.Background(), http.MethodGet, "/applications/app/runtime", nil, &whole); err != nil {
		t.Fatal(err)
	}
	var got, all map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(whole, &all); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, all) {
		t.Errorf("merged pages differ from the whole view:\n%.600s\n%.600s", raw, whole)
	}
	var rv Runtime
	if err := json.Unmarshal(raw, &rv); err != nil {
		t.Fatal(err)
	}
	am, m, _, _ := rv.Counts()
	if am != 2350 || m != 2500 || len(rv.ApplicationInstances[0].ClusterInstances[0].Member) != 1500 {
		t.Errorf("counts %d/%d, want 2350/2500 with 1500 members in the first cluster instance", am, m)
	}
}

// By default one call with ?limit=0: the table has each cluster instance's count per state and
// the totals, from memberCounts alone.
func TestRuntimeViewCounts(t *testing.T) {
	app := twoClusters()
	ts := httptest.NewServer(app)
	defer ts.Close()
	raw, err := (&Client{URL: ts.URL}).RuntimeView(context.Background(), "app", false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(app.queries, []string{"limit=0"}) {
		t.Errorf("queries %q, want one with limit=0", app.queries)
	}
	if strings.Contains(string(raw), "memberId") {
		t.Errorf("counts view lists members: %.300s", raw)
	}
	var rv Runtime
	if err := json.Unmarshal(raw, &rv); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := rv.WriteCounts(&out); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"application app: Active",
		"app-1     app.a.php.domain  web    php        Active          1500     Active 1350, Starting 150",
		"app-1     app.b.php.domain  web    php        Active          1000     Active 1000",
		"members: 2500 (Active 2350, Starting 150); strata runtime --members app lists them",
	} {
		if !strings.Contains(out.String(), line+"\n") {
			t.Errorf("counts table lacks %q:\n%s", line, out.String())
		}
	}
}

// A server without pages (it ignores ?limit) answers the whole view: one call, used as it is,
// and the counts come from the members listed.
func TestRuntimeViewWithoutPages(t *testing.T) {
	calls := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls++
		_, _ = w.Write([]byte(`{"id":"app","status":"Active","applicationInstances":[{"instanceId":"app-1","clusterInstances":[
			{"instanceId":"i-1","clusterId":"c-1","status":"Active","member":[{"memberId":"m1","status":"Active"},{"memberId":"m2","status":"Created"}]}]}]}`))
	}))
	defer ts.Close()
	raw, err := (&Client{URL: ts.URL}).RuntimeView(context.Background(), "app", true, 1)
	if err != nil || calls != 1 || !strings.Contains(string(raw), `"memberId":"m2"`) {
		t.Fatalf("RuntimeView = %s, %v after %d calls; want both members in one call", raw, err, calls)
	}
	var rv Runtime
	_ = json.Unmarshal(raw, &rv)
	var out bytes.Buffer
	_ = rv.WriteCounts(&out)
	if !strings.Contains(out.String(), "members: 2 (Active 1, Created 1)") {
		t.Errorf("counts from listed members:\n%s", out.String())
	}
}

// A next that does not move forward is an error, not an endless walk.
func TestRuntimeViewNextMustAdvance(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"id":"app","status":"Active","applicationInstances":[],"next":"m1"}`))
	}))
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := (&Client{URL: ts.URL}).RuntimeView(ctx, "app", true, 1)
	if err == nil || !strings.Contains(err.Error(), `names next "m1", not a later member`) {
		t.Errorf("RuntimeView = %v; want the next that does not advance", err)
	}
}

// Converge reads the counts (?limit=0), not every member: 100,000 Active members counted from
// memberCounts alone make the application deployed.
func TestConvergeReadsCounts(t *testing.T) {
	var queries []string
	var mu sync.Mutex
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		_, _ = w.Write([]byte(`{"id":"app","status":"Active","applicationInstances":[{"clusterInstances":[{"instanceId":"i-1",
			"clusterId":"c-1","status":"Active","memberCounts":{"Active":100000},"member":[]}]}]}`))
	}))
	defer ts.Close()
	var progress bytes.Buffer
	err := (&Client{URL: ts.URL}).Converge(context.Background(), "app", Converge{Timeout: time.Second, Poll: time.Millisecond,
		Done: Deployed, Progress: &progress})
	if err != nil || !strings.Contains(progress.String(), "members active 100000/100000") {
		t.Errorf("Converge = %v, progress %q; want deployed with 100000 members", err, progress.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(queries) != 1 || queries[0] != "limit=0" {
		t.Errorf("%d queries, the first %q; want one with limit=0", len(queries), queries[0])
	}
}

// BenchmarkRuntimeViewMembers reads 100,000 members in pages of PageSize and merges them (the
// fake server's page building is counted too); the counts view is one small answer.
func BenchmarkRuntimeViewMembers(b *testing.B) {
	ids := make([]string, 100000)
	for i := range ids {
		ids[i] = fmt.Sprintf("m-%06d", i)
	}
	app := &pagedApp{clusters: []pagedCluster{{id: "app.a.php.domain", instance: "app-1", members: ids,
		states: func(int) string { return "Active" }}}}
	ts := httptest.NewServer(app)
	defer ts.Close()
	c := &Client{URL: ts.URL}
	for b.Loop() {
		raw, err := c.RuntimeView(context.Background(), "app", true, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(raw)), "bytes/view")
	}
}
