package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/strata-paas/strata/autoscaler"
	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
	"github.com/strata-paas/strata/policies"
)

// historyPolicies is a policy directory for a cluster on the mock provider.
const historyPolicies = `kind: NetworkPartition
id: np1
provider: mock
partitions:
  - id: p1
---
kind: DeploymentPolicy
id: dep
networkPartitions:
  - id: np1
    partitions:
      - {id: p1, partitionMax: 3}
---
kind: AutoscalingPolicy
id: as
loadThresholds:
  requestsInFlight: {threshold: 20}
  memoryConsumption: {threshold: 80}
  loadAverage: {threshold: 50}
`

func freshDB() string { return fmt.Sprintf("strata_e2e_%d", rand.Uint64()) }

// openHistory opens the test's own reader of the database strata writes.
func openHistory(t *testing.T, dsn string) *history.ClickHouse {
	t.Helper()
	ch, err := history.NewClickHouse(t.Context(), history.Options{DSN: dsn, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	return ch
}

func thriftAdmin(t *testing.T, addr string) *databridge.Client {
	t.Helper()
	c, err := databridge.NewClient(databridge.ClientOptions{URLs: []string{"ssl://" + addr},
		TLS: &tls.Config{InsecureSkipVerify: true}, Username: "admin", Password: "s3cret-pass"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// eventually polls f every 100 ms until it returns "" or the time is up, then fails with its
// last answer.
func eventually(t *testing.T, within time.Duration, f func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// `strata up --clickhouse` keeps what flows through it: a raw health sample and its summary
// (published over Thrift TLS as admin), a log line (a logs.* stream), and the autoscaler's
// decision for a cluster announced on the bus. Each row is read back with its values, ids and
// timestamp.
func TestUpKeepsHistoryInClickHouse(t *testing.T) {
	t.Parallel()
	addr := testenv.ClickHouse(t)
	dsn := "clickhouse://" + addr + "/" + freshDB()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "policies.yaml"), []byte(historyPolicies), 0o644); err != nil {
		t.Fatal(err)
	}
	a, args := upArgs(t)
	args = append(args, "--clickhouse", dsn, "--cep-window", "1s", "--policies", dir)
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, args...)
	p.waitHTTP(t, "http://"+a.api+"/healthz")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ch := openHistory(t, dsn)

	const cluster = "app.web.php.domain"
	client := thriftAdmin(t, a.thriftTLS)
	t0 := time.Now().Truncate(time.Millisecond)
	sample := model.HealthSample{ClusterID: cluster, ClusterInstanceID: "web-1", NetworkPartitionID: "np1",
		MemberID: "m1", PartitionID: "p1", Metric: model.MetricLoadAverage, Value: 42.5, Timestamp: t0.UnixMilli()}
	if err := client.Publish(ctx, databridge.HealthEvent(sample)); err != nil {
		t.Fatal(err)
	}
	logDef := databridge.LogStream(databridge.LogStreamName("-1234", cluster, t0))
	if _, err := client.Define(ctx, logDef); err != nil {
		t.Fatal(err)
	}
	line := model.LogEntry{MemberID: "m1", TenantID: "-1234", ServerName: "php", AppName: "app", LogTime: t0.Format(time.RFC3339),
		Priority: "ERROR", Message: "database unreachable", Logger: "agent", IP: "10.0.0.7", Instance: "web-1",
		Stacktrace: "at main()", Timestamp: t0.UnixMilli() + 1}
	if err := client.Publish(ctx, databridge.LogEvent(logDef, line)); err != nil {
		t.Fatal(err)
	}

	// A cluster with MIN_COUNT on the bus: the autoscaler adopts it and its min check decides.
	b, err := bus.New(bus.Options{URLs: []string{"tcp://" + a.mqtt}, ClientID: "history-test"})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.Run(ctx) }()
	created := &model.ClusterCreatedEvent{Cluster: &model.Cluster{ServiceName: "php", ClusterID: cluster, AppID: "app",
		AutoscalePolicyName: "as", DeploymentPolicyName: "dep", Properties: model.Properties{"MIN_COUNT": "1", "MAX_COUNT": "2"}}}
	if err := b.PublishEvent(ctx, created); err != nil {
		t.Fatal(err)
	}

	eventually(t, 30*time.Second, func() string {
		pts, err := ch.Health(ctx, history.HealthQuery{ClusterID: cluster, MemberID: "m1", From: t0, Step: time.Millisecond})
		if err != nil {
			return err.Error()
		}
		if len(pts) != 1 {
			return fmt.Sprintf("health points %+v, want the one sample", pts)
		}
		pt := pts[0]
		if pt.Count != 1 || pt.Avg != 42.5 || !pt.Time.Equal(t0) || pt.Metric != model.MetricLoadAverage ||
			pt.ClusterInstanceID != "web-1" {
			return fmt.Sprintf("health point %+v, want 42.5 at %v for web-1/m1", pt, t0)
		}
		return ""
	})
	eventually(t, 30*time.Second, func() string {
		pts, err := ch.Summaries(ctx, history.SummaryQuery{ClusterID: cluster, Kind: model.MemberAverageLoadAverage, From: t0, Step: time.Millisecond})
		if err != nil {
			return err.Error()
		}
		if len(pts) != 1 || pts[0].Avg != 42.5 || pts[0].MemberID != "m1" || pts[0].ClusterInstanceID != "web-1" {
			return fmt.Sprintf("member load-average summaries %+v, want one of 42.5 for m1", pts)
		}
		// The window's end: after the sample, within a window and the flush.
		if d := pts[0].Time.Sub(t0); d < 0 || d > 5*time.Second {
			return fmt.Sprintf("summary at %v, %v after the sample", pts[0].Time, d)
		}
		return ""
	})
	eventually(t, 30*time.Second, func() string {
		logs, err := ch.Logs(ctx, history.LogQuery{ClusterID: cluster, From: t0})
		if err != nil {
			return err.Error()
		}
		want := line
		want.Stream = logDef.Name
		if len(logs) != 1 || logs[0] != want {
			return fmt.Sprintf("logs %+v, want %+v", logs, want)
		}
		return ""
	})
	eventually(t, 30*time.Second, func() string {
		ds, err := ch.Decisions(ctx, history.DecisionQuery{ClusterID: cluster, From: t0})
		if err != nil {
			return err.Error()
		}
		if len(ds) == 0 {
			return "no decision"
		}
		d := ds[0]
		tr, err := autoscaler.DecodeTrace(d)
		if err != nil {
			return err.Error()
		}
		if d.Action != autoscaler.ActionMin || d.Delta != 1 || d.Policy != "as" || d.Mode != "enforce" ||
			d.ClusterInstanceID != "web-1" || d.NetworkPartitionID != "np1" || !strings.HasPrefix(d.ID, cluster+"-") ||
			tr.Deployment != "dep" || tr.Members.Min != 1 || tr.Members.Max != 2 {
			return fmt.Sprintf("first decision %+v (trace %s), want the min check starting one member", d, d.Trace)
		}
		if d.Time.Before(t0) || d.Time.After(time.Now()) {
			return fmt.Sprintf("decision at %v, outside [%v, now]", d.Time, t0)
		}
		return ""
	})
	// `strata policy replay` over what ClickHouse holds: the enforced policy decides the same.
	time.Sleep(3 * time.Second) // let the summaries' round be recorded too
	var out, errOut strings.Builder
	replayArgs := []string{"as", "--cluster", cluster, "--policies", dir, "--clickhouse", dsn,
		"--from", t0.Add(-time.Minute).Format(time.RFC3339Nano), "--to", "now", "--all"}
	if code := runReplay(replayArgs, &out, &errOut); code != 0 {
		t.Fatalf("strata policy replay = %d\n%s%s", code, out.String(), errOut.String())
	}
	t.Logf("strata policy replay:\n%s", out.String())
	if !strings.Contains(out.String(), "min +1") || !strings.Contains(out.String(), " 0 differences") {
		t.Errorf("replay of the enforced policy: want the min check and 0 differences:\n%s", out.String())
	}
	out.Reset()
	if code := runReplay(append(replayArgs, "--output", "json"), &out, &errOut); code != 0 {
		t.Fatalf("strata policy replay --output json = %d\n%s", code, errOut.String())
	}
	var js struct {
		Cluster     string `json:"cluster"`
		Differences int    `json:"differences"`
		Recorded    int    `json:"recordedDecisions"`
		Timeline    []struct {
			Recorded *struct{ Action string } `json:"recorded"`
		} `json:"timeline"`
	}
	if err := json.Unmarshal([]byte(out.String()), &js); err != nil {
		t.Fatalf("--output json: %v\n%s", err, out.String())
	}
	if js.Cluster != cluster || js.Differences != 0 || js.Recorded == 0 || len(js.Timeline) == 0 ||
		js.Timeline[0].Recorded == nil || js.Timeline[0].Recorded.Action != autoscaler.ActionMin {
		t.Errorf("--output json = %s", out.String())
	}

	// Lifecycle: the controller records the transitions of the clusters it runs; this one was
	// only announced on the bus, so its start failed and there is no member to record.
	recs, err := ch.Lifecycle(ctx, history.LifecycleQuery{ClusterID: cluster, From: t0})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lifecycle records of the announced cluster: %d", len(recs))
}

// Every health sample published while ClickHouse is down, across a restart of `strata up`
// during the outage, is in ClickHouse exactly once when it is back.
func TestUpHistoryOutageAcrossRestart(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a ClickHouse server")
	}
	srv := testenv.StartClickHouse(t)
	db := freshDB()
	dsn := "clickhouse://" + srv.Addr() + "/" + db
	a, args := upArgs(t)
	args = append(args, "--clickhouse", dsn, "--cep-window", "1s")
	env := []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}
	p := startUp(t, env, args...)
	p.waitHTTP(t, "http://"+a.api+"/healthz")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	const cluster = "app.outage.php.domain"
	published := map[int64]float64{}
	next := time.Now().Truncate(time.Millisecond)
	publish := func(c *databridge.Client, n int) {
		t.Helper()
		for range n {
			next = next.Add(time.Millisecond)
			v := float64(len(published) + 1)
			s := model.HealthSample{ClusterID: cluster, ClusterInstanceID: "outage-1", NetworkPartitionID: "np1",
				MemberID: "m1", PartitionID: "p1", Metric: model.MetricLoadAverage, Value: v, Timestamp: next.UnixMilli()}
			if err := c.Publish(ctx, databridge.HealthEvent(s)); err != nil {
				t.Fatalf("publish: %v", err)
			}
			published[s.Timestamp] = v
			time.Sleep(2 * time.Millisecond)
		}
	}
	c1 := thriftAdmin(t, a.thriftTLS)
	publish(c1, 100) // ClickHouse up
	time.Sleep(1500 * time.Millisecond)
	srv.Stop()
	publish(c1, 100) // down
	time.Sleep(1500 * time.Millisecond)
	c1.Close()

	// Restart strata while ClickHouse is down: what it held goes to the spool in its data dir.
	p.signal(t, syscall.SIGTERM)
	if code := p.exitCode(t, 20*time.Second); code != 0 {
		t.Fatalf("exit status after SIGTERM = %d\n%s", code, p.out.String())
	}
	p2 := startUp(t, env, args...)
	p2.waitHTTP(t, "http://"+a.api+"/healthz")
	c2 := thriftAdmin(t, a.thriftTLS)
	publish(c2, 100) // still down, new process
	time.Sleep(1500 * time.Millisecond)
	srv.Start()
	publish(c2, 100) // back

	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{srv.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	want := uint64(len(published))
	var rows, distinctSamples, distinctKeys uint64
	eventually(t, 45*time.Second, func() string {
		q := fmt.Sprintf("SELECT count(), uniqExact(ts, value), uniqExact(batch_id, seq) FROM %s.health WHERE cluster_id = ?", db)
		if err := conn.QueryRow(ctx, q, cluster).Scan(&rows, &distinctSamples, &distinctKeys); err != nil {
			return err.Error()
		}
		if rows < want {
			return fmt.Sprintf("%d rows of %d samples in ClickHouse", rows, want)
		}
		return ""
	})
	time.Sleep(2 * time.Second) // a late duplicate would show now
	q := fmt.Sprintf("SELECT count(), uniqExact(ts, value), uniqExact(batch_id, seq) FROM %s.health WHERE cluster_id = ?", db)
	if err := conn.QueryRow(ctx, q, cluster).Scan(&rows, &distinctSamples, &distinctKeys); err != nil {
		t.Fatal(err)
	}
	if rows != want || distinctSamples != want || distinctKeys != want {
		t.Fatalf("ClickHouse holds %d rows, %d distinct samples, %d distinct keys; want %d of each", rows, distinctSamples, distinctKeys, want)
	}
	// And they are the samples published: each (ts, value) pair.
	r, err := conn.Query(ctx, fmt.Sprintf("SELECT ts, value FROM %s.health WHERE cluster_id = ?", db), cluster)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for r.Next() {
		var (
			ts int64
			v  float64
		)
		if err := r.Scan(&ts, &v); err != nil {
			t.Fatal(err)
		}
		if published[ts] != v {
			t.Errorf("row ts %d value %v was not published (want value %v)", ts, v, published[ts])
		}
	}
}

// `strata up --demo` with ClickHouse: real members on the local driver leave lifecycle records
// and the autoscaler's decisions in ClickHouse, and `strata policy replay` of the enforced
// demo policy over them makes the same scale-out.
func TestUpDemoHistoryReplay(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("the demo runs for over a minute")
	}
	addr := testenv.ClickHouse(t)
	dsn := "clickhouse://" + addr + "/" + freshDB()
	_, args := upArgs(t)
	port := func() string { return strconv.Itoa(testenv.FreePort(t)) }
	args = append(args, "--clickhouse", dsn, "--demo", "--demo-exit", "--demo-dir", "../../examples/demo",
		"--demo-waves", "5s,30s,5s", "--cep-window", "6s", "--demo-proxy-port", port(), "--demo-port", port())
	t0 := time.Now()
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, args...)
	if code := p.exitCode(t, 170*time.Second); code != 0 {
		t.Fatalf("strata up --demo --demo-exit: exit status %d\n%s", code, p.out.String())
	}
	ctx := t.Context()
	ch := openHistory(t, dsn)
	ds, err := ch.Decisions(ctx, history.DecisionQuery{From: t0, Limit: history.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) == 0 {
		t.Fatal("no decision in ClickHouse")
	}
	cluster := ds[0].ClusterID
	started := 0
	for _, d := range ds {
		if d.ClusterID == cluster && d.Delta > 0 {
			started += d.Delta
		}
	}
	recs, err := ch.Lifecycle(ctx, history.LifecycleQuery{ClusterID: cluster, From: t0, Limit: history.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	created, activated := map[string]time.Time{}, map[string]time.Time{}
	for _, r := range recs {
		if r.Entity != "member" {
			continue
		}
		switch r.Status {
		case string(model.MemberCreated):
			created[r.MemberID] = r.Time
		case string(model.MemberActive):
			activated[r.MemberID] = r.Time
		}
		if r.Entity == "member" && (r.ClusterInstanceID == "" || r.PartitionID == "" || r.NetworkPartitionID == "" || r.Time.Before(t0)) {
			t.Errorf("lifecycle record without its keys or before the start: %+v", r)
		}
	}
	if started < 2 || len(created) < started || len(activated) < 2 {
		t.Errorf("%d members created, %d activated, %d started by decisions; want >= 2 started, each created", len(created), len(activated), started)
	}
	for id, at := range activated {
		if c, ok := created[id]; !ok || !c.Before(at) {
			t.Errorf("member %s activated at %v, created at %v (%t)", id, at, c, ok)
		}
	}

	var out, errOut strings.Builder
	code := runReplay([]string{"demo-autoscaling", "--cluster", cluster, "--policies", "../../examples/demo/policies", "--clickhouse", dsn,
		"--monitor-interval", "5s", "--from", t0.Add(-time.Second).Format(time.RFC3339Nano), "--to", "now", "--all"}, &out, &errOut)
	t.Logf("strata policy replay:\n%s%s", out.String(), errOut.String())
	if code != 0 {
		t.Fatalf("strata policy replay: exit %d", code)
	}
	// Every decision that acted (min check, scale-ups, scale-downs) is decided the same, at the same
	// times; the scale-downs terminate the members the live autoscaler terminated (see Replay).
	set, id, err := policies.LoadCandidate(ctx, "../../examples/demo/policies", "demo-autoscaling")
	if err != nil {
		t.Fatal(err)
	}
	res, err := replayFromClickHouse(ctx, dsn, autoscaler.ReplayOptions{Policies: set, Policy: id,
		Cluster: autoscaler.ClusterSpec{ClusterID: cluster}, From: t0.Add(-time.Second), To: time.Now(), MonitorInterval: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ups, downs := 0, 0
	for _, row := range res.Timeline {
		if row.Recorded == nil || row.Recorded.Delta == 0 {
			continue
		}
		if row.Recorded.Delta > 0 {
			ups++
		} else {
			downs++
		}
		if row.Replayed == nil || row.Replayed.Action != row.Recorded.Action || row.Replayed.Delta != row.Recorded.Delta {
			t.Errorf("recorded %s %+d at %v, replayed %+v", row.Recorded.Action, row.Recorded.Delta, row.Time, row.Replayed)
		}
	}
	if ups < 2 {
		t.Errorf("%d recorded decisions started members; want the min check and a scale-up", ups)
	}
	if downs == 0 {
		t.Errorf("no recorded decision terminated a member; want the scale-in")
	}
	if res.Differences != 0 {
		t.Errorf("the replay differs in %d rows", res.Differences)
	}
	if t.Failed() {
		for _, r := range recs {
			t.Logf("lifecycle %s %s %s %s %s", r.Time.Format(time.RFC3339Nano), r.Entity, r.MemberID, r.PartitionID, r.Status)
		}
		for _, d := range ds {
			if d.Delta != 0 {
				t.Logf("decision %s %s %+d: %s", d.Time.Format(time.RFC3339Nano), d.Action, d.Delta, d.Trace)
			}
		}
	}
}
