//go:build unix

package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
	"github.com/strata-paas/strata/manager"
)

// bigTopology is a ClusterManager whose topology holds the admin application's cluster with n
// Active members.
type bigTopology struct{ top *model.Topology }

func (bigTopology) CreateApplicationClusters(context.Context, string, []manager.Cluster) error {
	return nil
}
func (bigTopology) RemoveApplicationClusters(context.Context, string) error { return nil }
func (b bigTopology) Topology() *model.Topology                             { return b.top }
func (bigTopology) StartFailure(string) (manager.StartFailure, bool) {
	return manager.StartFailure{}, false
}

// newBigTopology builds the topology and the history of n members: 15 minutes of load average,
// memory consumption and requests in flight every 15 s, a lifecycle record each and 20 decisions.
func newBigTopology(n int, store *history.Memory, now time.Time) bigTopology {
	c := &model.Cluster{ServiceName: "php", ClusterID: adminClusterID, AppID: adminAppID, MemberMap: map[string]*model.Member{}}
	var samples []model.HealthSample
	for i := range n {
		id := fmt.Sprintf("%s-member-%04d", adminClusterID, i)
		m := &model.Member{ServiceName: "php", ClusterID: adminClusterID, MemberID: id, ClusterInstanceID: "single-cartridge-app-1",
			NetworkPartitionID: "network-partition-1", PartitionID: "partition-1", DefaultPrivateIP: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)}
		m.PushStatus(model.MemberActive)
		c.MemberMap[id] = m
		store.RecordLifecycle(model.LifecycleRecord{Time: now.Add(-10 * time.Minute), Entity: "member", ClusterID: adminClusterID, MemberID: id, Status: "Active"})
		for t := now.Add(-15 * time.Minute); t.Before(now); t = t.Add(15 * time.Second) {
			for _, metric := range []string{model.MetricLoadAverage, model.MetricMemoryConsumption, model.MetricRequestsInFlight} {
				samples = append(samples, model.HealthSample{ClusterID: adminClusterID, ClusterInstanceID: "single-cartridge-app-1", MemberID: id,
					Metric: metric, Value: float64(i % 90), Timestamp: t.UnixMilli()})
			}
		}
	}
	store.RecordHealth(samples...)
	for t := now.Add(-15 * time.Minute); t.Before(now); t = t.Add(time.Minute) {
		for _, k := range []model.SummaryKind{model.AverageLoadAverage, model.AverageMemoryConsumption, model.AverageRequestsInFlight} {
			store.RecordSummary(model.Summary{Kind: k, ClusterID: adminClusterID, ClusterInstanceID: "single-cartridge-app-1", Value: 45, Timestamp: t.UnixMilli()})
		}
	}
	for i := range 20 {
		store.RecordDecision(model.Decision{ID: fmt.Sprintf("decision-%d", i), Time: now.Add(-time.Duration(i) * 30 * time.Second),
			ClusterID: adminClusterID, ClusterInstanceID: "single-cartridge-app-1", Action: "scale-up", Delta: 1, Reason: "load average above the threshold",
			Trace: []byte(`{}`)})
	}
	return bigTopology{top: &model.Topology{ClusterMap: map[string]*model.Cluster{adminClusterID: c},
		ServiceMap: map[string]*model.Service{"php": {ServiceName: "php", ClusterIDClusterMap: map[string]*model.Cluster{adminClusterID: c}}}, Initialized: true}}
}

// BenchmarkPages is the server time of each console page with 1,000 members in the topology
// (and their history), the API's time included: each page is one request to the handler that
// `strata up` serves, as the logged-in admin.
func BenchmarkPages(b *testing.B) {
	const members = 1000
	store := history.NewMemory(history.Options{})
	top := newBigTopology(members, store, time.Now().UTC())
	s := newStandalone(b, manager.Options{Clusters: top, History: store})
	u := newBrowserless(b, s.URL)
	if code, page := u.login("admin", adminPassword); code != http.StatusOK {
		b.Fatalf("log in = %d:\n%s", code, page)
	}
	req0, _ := http.NewRequest(http.MethodGet, s.URL, nil)
	cookies := u.client.Jar.Cookies(req0.URL)
	handler := s.api.Handler()
	for _, p := range []struct{ name, path, want string }{
		{"applications", "/apps", adminAppID},
		{"application", "/apps/" + adminAppID, "member-0999"},
		{"tree", "/apps/" + adminAppID + "/tree", "member-0999"},
		{"cluster", "/apps/" + adminAppID + "/clusters/" + adminClusterID, "cluster average (CEP)"},
		{"decisions", "/apps/" + adminAppID + "/clusters/" + adminClusterID + "/decisions", "decision-19"},
		{"policies", "/policies", "autoscaling-policy-1"},
	} {
		b.Run(p.name, func(b *testing.B) {
			get := func() *httptest.ResponseRecorder {
				req := httptest.NewRequest(http.MethodGet, p.path, nil)
				for _, c := range cookies {
					req.AddCookie(c)
				}
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				return rec
			}
			if rec := get(); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), p.want) {
				b.Fatalf("GET %s = %d, want 200 with %q:\n%.2000s", p.path, rec.Code, p.want, rec.Body.String())
			}
			b.ReportAllocs()
			cpu := testenv.CPUTime()
			for b.Loop() {
				get()
			}
			// On a shared machine the wall time (ns/op) includes waiting for a core; the
			// process's CPU time per page is the server's own cost.
			b.ReportMetric(float64((testenv.CPUTime()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/page")
		})
	}
}
