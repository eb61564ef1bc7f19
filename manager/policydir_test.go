package manager

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/testenv"
	"github.com/strata-paas/strata/policies"
)

// A policy directory as strata up --policies reads it: two network partitions on the mock
// provider, an autoscaling, a deployment and an application policy.
var dirFiles = map[string]string{
	"network-partitions.yaml": `kind: NetworkPartition
id: np-1
provider: mock
partitions:
  - id: p1
  - id: p2
---
kind: NetworkPartition
id: np-2
provider: mock
properties: {payload_parameter.NETWORK: backup}
partitions:
  - id: q1
`,
	"autoscaling.yaml": `kind: AutoscalingPolicy
id: as-1
loadThresholds:
  requestsInFlight: {threshold: 20}
  memoryConsumption: {threshold: 80}
  loadAverage: {threshold: 50}
`,
	"deployment.yaml": `kind: DeploymentPolicy
id: dep-1
networkPartitions:
  - id: np-1
    partitions: [{id: p1, partitionMax: 3}, {id: p2, partitionMax: 3}]
  - id: np-2
    partitions: [{id: q1, partitionMax: 2}]
`,
	"application.yaml": `kind: ApplicationPolicy
id: ap-1
algorithm: one-after-another
networkPartitions: [np-1, np-2]
`,
}

const (
	dirCartridge   = `{"type":"php","category":"framework","host":"example.org","multiTenant":"false","iaasProvider":[{"type":"mock","imageId":"img"}]}`
	dirApplication = `{"applicationId":"web","components":{"cartridges":[{"type":"php","cartridgeMin":1,"cartridgeMax":3,"subscribableInfo":{"alias":"www","autoscalingPolicy":"as-1","deploymentPolicy":"dep-1"}}]}}`
	// What a REST client posted before the directory took over: np-1 without p2.
	restNP = `{"id":"np-1","provider":"mock","partitions":[{"id":"p1","property":[{"name":"region","value":"old"}]}]}`
)

// writePolicyDir writes dirFiles into a fresh directory.
func writePolicyDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range dirFiles {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// newDirServer builds a Server on e's database with the policy directory dir, as strata up
// --policies does after a restart.
func newDirServer(t *testing.T, e *testEnv, dir string) (*Server, *fakePlatform, *testenv.Buffer, error) {
	t.Helper()
	store, err := policies.NewStore(context.Background(), policies.StoreOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.Buffer{}
	plat := newFakePlatform()
	s, err := New(Options{Listener: e.srv.opts.Listener, Users: e.srv.opts.Users, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Policies: store, Cartridges: plat, Partitions: plat, Clusters: plat, Scaler: plat, Bus: &fakeBus{}, SecretsKey: e.srv.opts.SecretsKey})
	return s, plat, logs, err
}

// dirEnv is a test environment whose server reads the policy directory.
func dirEnv(t *testing.T) (*testEnv, string) {
	t.Helper()
	e := newEnv(t)
	dir := writePolicyDir(t)
	s, plat, logs, err := newDirServer(t, e, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.bg.Wait)
	s.resync(context.Background())
	return &testEnv{t: t, srv: s, h: s.Handler(), plat: plat, bus: &fakeBus{}, dbPath: e.dbPath, logs: logs}, dir
}

// The network partitions of the directory reach the controller when the server starts, with
// their partitions and properties, as a posted one does: the controller starts members only in
// network partitions it knows.
func TestPolicyDirNetworkPartitionsReachController(t *testing.T) {
	e, _ := dirEnv(t)
	for _, id := range []string{"np-1", "np-2"} {
		if _, ok := e.plat.partitions[id]; !ok {
			t.Fatalf("the controller does not know network partition %s from the directory; it knows %v", id, e.plat.partitions)
		}
	}
	np1, np2 := e.plat.partitions["np-1"], e.plat.partitions["np-2"]
	if np1.Provider != "mock" || len(np1.Partitions) != 2 || np1.Partitions[1].ID != "p2" {
		t.Errorf("np-1 at the controller = %+v, want provider mock with partitions p1 and p2", np1)
	}
	if len(np2.Properties) != 1 || np2.Properties[0].Name != "payload_parameter.NETWORK" || np2.Properties[0].Value != "backup" {
		t.Errorf("np-2 at the controller has properties %+v, want payload_parameter.NETWORK=backup", np2.Properties)
	}
}

// A data dir with policies posted through the REST API before the directory took over starts:
// the directory wins, and the log says which stored policies it superseded.
func TestPolicyDirRestartWithRESTPolicies(t *testing.T) {
	e := newEnv(t)
	expect(t, "POST np-1", e.admin("POST", "/api/networkPartitions", []byte(restNP)), http.StatusCreated, "")
	expect(t, "POST as-1", e.admin("POST", "/api/autoscalingPolicies", []byte(`{"id":"as-1","loadThresholds":{"requestsInFlight":{"threshold":99},"memoryConsumption":{"threshold":99},"loadAverage":{"threshold":99}}}`)), http.StatusCreated, "")

	s, plat, logs, err := newDirServer(t, e, writePolicyDir(t))
	if err != nil {
		t.Fatalf("start with a policy directory on a data dir with REST-posted policies: %v", err)
	}
	np, _ := s.opts.Policies.Set().NetworkPartition("np-1")
	if np == nil || len(np.Partitions) != 2 {
		t.Errorf("np-1 = %+v, want the directory's (two partitions)", np)
	}
	if as, _ := s.opts.Policies.Set().Autoscaling("as-1"); as == nil || as.Thresholds.RequestsInFlight != 20 {
		t.Errorf("as-1 = %+v, want the directory's (threshold 20)", as)
	}
	for _, id := range []string{"NetworkPartition/np-1", "AutoscalingPolicy/as-1"} {
		if !strings.Contains(logs.String(), "policy superseded by the policy directory") || !strings.Contains(logs.String(), id) {
			t.Errorf("the log does not say that the stored %s was superseded:\n%s", id, logs.String())
		}
	}
	s.resync(context.Background())
	if got := plat.partitions["np-1"]; len(got.Partitions) != 2 {
		t.Errorf("np-1 at the controller after resync = %+v, want the directory's", got)
	}
}

// While the directory owns the policies, REST writes to them are refused with 409 naming the
// directory, and nothing changes; reads still work.
func TestPolicyDirRefusesRESTWrites(t *testing.T) {
	e, dir := dirEnv(t)
	before := e.srv.opts.Policies.Set()
	writes := []struct{ method, path, body string }{
		{"POST", "/api/networkPartitions", `{"id":"np-9","provider":"mock","partitions":[{"id":"x"}]}`},
		{"PUT", "/api/networkPartitions", restNP},
		{"DELETE", "/api/networkPartitions/np-2", ""},
		{"POST", "/api/autoscalingPolicies", `{"id":"as-9","loadThresholds":{"requestsInFlight":{"threshold":1},"memoryConsumption":{"threshold":1},"loadAverage":{"threshold":1}}}`},
		{"PUT", "/api/v4.1/autoscalingPolicies", `{"id":"as-1","loadThresholds":{"requestsInFlight":{"threshold":1},"memoryConsumption":{"threshold":1},"loadAverage":{"threshold":1}}}`},
		{"DELETE", "/api/autoscalingPolicies/as-1", ""},
		{"POST", "/api/deploymentPolicies", `{"id":"dep-9","networkPartitions":[{"id":"np-1","partitions":[{"id":"p1","partitionMax":1}]}]}`},
		{"DELETE", "/api/deploymentPolicies/dep-1", ""},
		{"POST", "/api/applicationPolicies", `{"id":"ap-9","algorithm":"one-after-another","networkPartitions":["np-1"]}`},
		{"PUT", "/api/applicationPolicies", `{"id":"ap-1","algorithm":"all-at-once","networkPartitions":["np-1"]}`},
		{"DELETE", "/api/applicationPolicies/ap-1", ""},
	}
	for _, w := range writes {
		var body []byte
		if w.body != "" {
			body = []byte(w.body)
		}
		r := e.admin(w.method, w.path, body)
		if r.code != http.StatusConflict || !strings.Contains(r.msg().Message, dir) {
			t.Errorf("%s %s = %d %s, want 409 naming the directory %s", w.method, w.path, r.code, r.body, dir)
		}
	}
	if e.srv.opts.Policies.Set() != before {
		t.Error("a refused write changed the policy set")
	}
	for _, path := range []string{"/api/networkPartitions", "/api/networkPartitions/np-1", "/api/autoscalingPolicies/as-1",
		"/api/deploymentPolicies", "/api/applicationPolicies/ap-1"} {
		expect(t, "GET "+path, e.admin("GET", path, nil), http.StatusOK, "")
	}
	var np map[string]any
	_ = json.Unmarshal(e.admin("GET", "/api/networkPartitions/np-1", nil).body, &np)
	if parts, _ := np["partitions"].([]any); len(parts) != 2 {
		t.Errorf("GET np-1 = %v, want the directory's two partitions", np)
	}
}

// A reload that would orphan a deployed application is refused as a whole: the running set
// stays, the reason is logged and shown by GET /policyDirectory, and POST /policyDirectory/reload
// answers 409. Other changes reach the controller; a network partition the controller refuses
// refuses the reload and undoes what the controller had already taken. Once the application is
// undeployed, the same directory loads.
func TestPolicyDirReloadRefusesOrphans(t *testing.T) {
	ctx := context.Background()
	e, dir := dirEnv(t)
	expect(t, "cartridge", e.admin("POST", "/api/cartridges", []byte(dirCartridge)), http.StatusCreated, "")
	expect(t, "application", e.admin("POST", "/api/applications", []byte(dirApplication)), http.StatusCreated, "")
	expect(t, "deploy", e.admin("POST", "/api/applications/web/deploy/ap-1", nil), http.StatusAccepted, "")
	running := e.srv.opts.Policies.Set()

	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	remove := func(name string) {
		t.Helper()
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	refused := []struct {
		name   string
		change func()
		reason string
	}{
		{name: "deployment policy removed", change: func() { remove("deployment.yaml") }, reason: "application web (deployed) uses deployment policy dep-1"},
		{name: "application and autoscaling policy removed", change: func() { remove("application.yaml"); remove("autoscaling.yaml") },
			reason: "application web (deployed) uses application policy ap-1"},
		{name: "network partition dropped from the deployment policy", change: func() {
			write("deployment.yaml", "kind: DeploymentPolicy\nid: dep-1\nnetworkPartitions:\n  - id: np-1\n    partitions: [{id: p1, partitionMax: 3}]\n")
		}, reason: "network partition np-2 of deployment policy dep-1"},
	}
	for _, tc := range refused {
		tc.change()
		_, err := e.srv.ReloadPolicies(ctx)
		if !errors.Is(err, policies.ErrRefused) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: reload err = %v, want refused with %q", tc.name, err, tc.reason)
		}
		if e.srv.opts.Policies.Set() != running {
			t.Fatalf("%s: a refused reload changed the running set", tc.name)
		}
		if !strings.Contains(e.logs.String(), "policy reload refused") {
			t.Errorf("%s: the refusal is not logged:\n%s", tc.name, e.logs.String())
		}
		var view policyDirectoryView
		r := e.admin("GET", "/api/policyDirectory", nil)
		expect(t, tc.name+": GET /policyDirectory", r, http.StatusOK, "")
		_ = json.Unmarshal(r.body, &view)
		if view.Directory != dir || view.LastReload == nil || view.LastReload.Applied || !strings.Contains(view.LastReload.Error, tc.reason) {
			t.Errorf("%s: GET /policyDirectory = %s, want the refusal with its reason", tc.name, r.body)
		}
		expect(t, tc.name+": POST /policyDirectory/reload", e.admin("POST", "/api/policyDirectory/reload", nil), http.StatusConflict, tc.reason)
		for name, body := range dirFiles {
			write(name, body)
		}
	}
	if got := e.srv.opts.Policies.Reloads(); got.Refused != 2*len(refused) {
		t.Errorf("reloads = %+v, want %d refused", got, 2*len(refused))
	}

	// A change that orphans nothing reaches the controller.
	np1 := strings.Replace(dirFiles["network-partitions.yaml"], "  - id: p2\n", "  - id: p2\n  - id: p3\n", 1)
	write("network-partitions.yaml", np1+"---\nkind: NetworkPartition\nid: np-3\nprovider: mock\npartitions: [{id: r1}]\n")
	c, err := e.srv.ReloadPolicies(ctx)
	if err != nil || len(c.Added) != 1 || len(c.Changed) != 1 {
		t.Fatalf("reload = %+v, %v; want np-3 added and np-1 changed", c, err)
	}
	if got := e.plat.partitions["np-1"]; len(got.Partitions) != 3 {
		t.Errorf("np-1 at the controller = %+v, want three partitions", got)
	}
	if _, ok := e.plat.partitions["np-3"]; !ok {
		t.Error("np-3 did not reach the controller")
	}
	expect(t, "POST /policyDirectory/reload", e.admin("POST", "/api/policyDirectory/reload", nil), http.StatusOK, "")

	// The controller refuses np-4: the reload is refused and np-1's change there undone.
	e.plat.failNP = "np-4"
	write("network-partitions.yaml", dirFiles["network-partitions.yaml"]+"---\nkind: NetworkPartition\nid: np-4\nprovider: mock\npartitions: [{id: s1}]\n")
	running = e.srv.opts.Policies.Set()
	if _, err := e.srv.ReloadPolicies(ctx); !errors.Is(err, policies.ErrRefused) || !strings.Contains(err.Error(), "np-4") {
		t.Errorf("reload with a network partition the controller refuses: err = %v, want refused naming np-4", err)
	}
	if e.srv.opts.Policies.Set() != running {
		t.Error("a refused reload changed the running set")
	}
	if got := e.plat.partitions["np-1"]; len(got.Partitions) != 3 {
		t.Errorf("np-1 at the controller after the refusal = %+v, want the running one (three partitions) back", got)
	}
	if _, ok := e.plat.partitions["np-3"]; !ok {
		t.Error("np-3 removed from the controller by a refused reload")
	}
	e.plat.failNP = ""

	// Undeployed, the application no longer holds its policies.
	expect(t, "undeploy", e.admin("POST", "/api/applications/web/undeploy", nil), http.StatusAccepted, "")
	testenv.Eventually(t, 10*time.Second, "the application undeployed", func() bool {
		var a map[string]any
		_ = json.Unmarshal(e.admin("GET", "/api/applications/web", nil).body, &a)
		return a["status"] == "Created"
	})
	remove("deployment.yaml")
	remove("application.yaml")
	c, err = e.srv.ReloadPolicies(ctx)
	if err != nil || !slices.Contains(c.Removed, policies.Ref{Kind: policies.KindDeployment, ID: "dep-1"}) ||
		!slices.Contains(c.Removed, policies.Ref{Kind: policies.KindApplication, ID: "ap-1"}) {
		t.Errorf("reload after undeploy = %+v, %v; want dep-1 and ap-1 removed", c, err)
	}
	if _, ok := e.plat.partitions["np-4"]; !ok {
		t.Error("np-4 did not reach the controller")
	}
	if _, ok := e.plat.partitions["np-3"]; ok {
		t.Error("np-3, gone from the directory, is still at the controller")
	}
}

// Without a directory the API owns the policies: GET /policyDirectory says so with 404.
func TestPolicyDirAbsent(t *testing.T) {
	e := newEnv(t)
	expect(t, "GET /policyDirectory", e.admin("GET", "/api/policyDirectory", nil), http.StatusNotFound, "--policies")
	expect(t, "POST /policyDirectory/reload", e.admin("POST", "/api/policyDirectory/reload", nil), http.StatusNotFound, "--policies")
}

// Clusters the manager did not deploy (the demo's, those adopted from the bus) hold their
// policies too: a reload that takes one away is refused.
func TestPolicyDirReloadRefusesScalerOrphans(t *testing.T) {
	e, dir := dirEnv(t)
	e.plat.inUse = []policies.Ref{{Kind: policies.KindAutoscaling, ID: "as-1"}, {Kind: policies.KindDeployment, ID: "dep-1"}}
	if err := os.Remove(filepath.Join(dir, "autoscaling.yaml")); err != nil {
		t.Fatal(err)
	}
	_, err := e.srv.ReloadPolicies(context.Background())
	if !errors.Is(err, policies.ErrRefused) || !strings.Contains(err.Error(), "a running cluster uses AutoscalingPolicy/as-1") {
		t.Errorf("reload err = %v, want refused: a running cluster uses as-1", err)
	}
	e.plat.inUse = nil
	if _, err := e.srv.ReloadPolicies(context.Background()); err != nil {
		t.Errorf("reload once no cluster uses as-1: %v", err)
	}
}

// A start with a directory that lacks what a deployed application uses is not fatal (the log
// says what is missing), and that earlier loss does not block later reloads; a new loss does.
func TestPolicyDirStartsWithOrphans(t *testing.T) {
	ctx := context.Background()
	e, _ := dirEnv(t)
	expect(t, "cartridge", e.admin("POST", "/api/cartridges", []byte(dirCartridge)), http.StatusCreated, "")
	expect(t, "application", e.admin("POST", "/api/applications", []byte(dirApplication)), http.StatusCreated, "")
	expect(t, "deploy", e.admin("POST", "/api/applications/web/deploy/ap-1", nil), http.StatusAccepted, "")

	dir := writePolicyDir(t)
	if err := os.Remove(filepath.Join(dir, "application.yaml")); err != nil {
		t.Fatal(err)
	}
	s, _, logs, err := newDirServer(t, e, dir)
	if err != nil {
		t.Fatalf("start with a directory that lacks the deployed application's policy: %v", err)
	}
	s.resync(ctx)
	if !strings.Contains(logs.String(), "policy directory lacks what a deployed application uses") || !strings.Contains(logs.String(), "application policy ap-1") {
		t.Errorf("the start does not log the missing application policy:\n%s", logs.String())
	}
	extra := "---\nkind: AutoscalingPolicy\nid: as-2\nloadThresholds: {requestsInFlight: {threshold: 1}, memoryConsumption: {threshold: 1}, loadAverage: {threshold: 1}}\n"
	if err := os.WriteFile(filepath.Join(dir, "autoscaling.yaml"), []byte(dirFiles["autoscaling.yaml"]+extra), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err := s.ReloadPolicies(ctx); err != nil || len(c.Added) != 1 {
		t.Errorf("an unrelated reload = %+v, %v; want as-2 added", c, err)
	}
	if err := os.Remove(filepath.Join(dir, "deployment.yaml")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReloadPolicies(ctx); !errors.Is(err, policies.ErrRefused) || !strings.Contains(err.Error(), "deployment policy dep-1") {
		t.Errorf("a reload that loses dep-1 too: err = %v, want refused naming dep-1", err)
	}
}
