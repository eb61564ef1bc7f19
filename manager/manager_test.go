package manager

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"

	"github.com/strata-paas/strata/internal/testenv"
)

const (
	adminPassword = "admin-secret-1"
	samples       = "testdata/stratos-samples/" // Apache Stratos samples, unchanged (see its README.md)
)

type testEnv struct {
	t      *testing.T
	srv    *Server
	h      http.Handler
	plat   *fakePlatform
	bus    *fakeBus
	dbPath string
	logs   *testenv.Buffer
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "manager.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	users, err := NewUsers(db)
	if err != nil {
		t.Fatal(err)
	}
	users.cost = bcrypt.MinCost // bcrypt at its default cost takes seconds per check under -race
	if _, err := users.EnsureAdmin(adminPassword); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	logs := &testenv.Buffer{}
	plat, fb := newFakePlatform(), &fakeBus{}
	key, err := LoadSecretsKey(filepath.Join(dir, "secrets.key"), true)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Listener: ln, Users: users, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Cartridges: plat, Partitions: plat, Clusters: plat, Scaler: plat, Bus: fb, SecretsKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.subscribe(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.bg.Wait)
	return &testEnv{t: t, srv: s, h: s.Handler(), plat: plat, bus: fb, dbPath: path, logs: logs}
}

type resp struct {
	code int
	hdr  http.Header
	body []byte
}

func (r resp) msg() message {
	var m message
	_ = json.Unmarshal(r.body, &m)
	return m
}

// do sends a request as user (empty: no credentials).
func (e *testEnv) do(method, path, user, password string, body []byte) resp {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return resp{code: rec.Code, hdr: rec.Header(), body: rec.Body.Bytes()}
}

func (e *testEnv) admin(method, path string, body []byte) resp {
	e.t.Helper()
	return e.do(method, path, "admin", adminPassword, body)
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(samples + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func expect(t *testing.T, what string, r resp, code int, msgContains string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: status %d, want %d: %s", what, r.code, code, r.body)
	}
	if msgContains != "" && !strings.Contains(r.msg().Message, msgContains) {
		t.Fatalf("%s: message %q does not contain %q", what, r.msg().Message, msgContains)
	}
}

// TestStratosSamples posts the Stratos samples as they are, in the order of §6.3, deploys,
// checks in-use refusals, undeploys and removes everything in reverse order.
func TestStratosSamples(t *testing.T) {
	e := newEnv(t)
	posts := []struct {
		name, file, path, id, msg string
	}{
		{"autoscaling policy", "autoscaling-policies__autoscaling-policy-1.json", "/api/autoscalingPolicies", "autoscaling-policy-1", "Autoscaling policy added successfully"},
		{"network partition 1", "network-partitions__mock__network-partition-1.json", "/api/networkPartitions", "network-partition-1", "Network partition added successfully"},
		{"network partition 2", "network-partitions__mock__network-partition-2.json", "/api/networkPartitions", "network-partition-2", "Network partition added successfully"},
		{"deployment policy 1", "deployment-policies__deployment-policy-1.json", "/api/deploymentPolicies", "deployment-policy-1", "Deployment policy added successfully"},
		{"deployment policy 2", "deployment-policies__deployment-policy-2.json", "/api/deploymentPolicies", "deployment-policy-2", "Deployment policy added successfully"},
		{"php", "cartridges__mock__php.json", "/api/cartridges", "php", "Cartridge added successfully"},
		{"tomcat", "cartridges__mock__tomcat.json", "/api/cartridges", "tomcat", "Cartridge added successfully"},
		{"mysql", "cartridges__mock__mysql.json", "/api/v4.1/cartridges", "mysql", "Cartridge added successfully"},
		{"group", "cartridge-groups__group6c.json", "/api/cartridgeGroups", "group6", "Cartridge Group added successfully"},
		{"application policy", "application-policies__application-policy-1.json", "/api/applicationPolicies", "application-policy-1", "Application policy added successfully"},
		{"application", "applications__simple__single-cartridge-app__artifacts__application.json", "/api/applications", "single-cartridge-app", "Application added successfully"},
	}
	for _, p := range posts {
		r := e.admin("POST", p.path, sample(t, p.file))
		expect(t, p.name, r, http.StatusCreated, p.msg)
		if got, want := r.hdr.Get("Location"), p.path+"/"+p.id; got != want {
			t.Errorf("%s: Location %q, want %q", p.name, got, want)
		}
		if m := r.msg(); m.Status != "success" {
			t.Errorf("%s: status %q", p.name, m.Status)
		}
		// Posting again is a conflict.
		expect(t, p.name+" again", e.admin("POST", p.path, sample(t, p.file)), http.StatusConflict, "already exists")
	}

	// GET returns the beans with numbers and booleans as numbers and booleans.
	var dp map[string]any
	r := e.admin("GET", "/api/deploymentPolicies/deployment-policy-1", nil)
	expect(t, "get deployment policy", r, http.StatusOK, "")
	_ = json.Unmarshal(r.body, &dp)
	if max := dp["networkPartitions"].([]any)[0].(map[string]any)["partitions"].([]any)[0].(map[string]any)["partitionMax"]; max != float64(20) {
		t.Errorf("partitionMax = %#v, want the number 20", max)
	}
	var ct map[string]any
	r = e.admin("GET", "/api/cartridges/php", nil)
	expect(t, "get cartridge", r, http.StatusOK, "")
	_ = json.Unmarshal(r.body, &ct)
	if ct["multiTenant"] != false || ct["portMapping"].([]any)[0].(map[string]any)["port"] != float64(8080) {
		t.Errorf("cartridge bean: multiTenant %#v, port %#v", ct["multiTenant"], ct["portMapping"].([]any)[0].(map[string]any)["port"])
	}
	for _, path := range []string{"/api/autoscalingPolicies", "/api/networkPartitions", "/api/deploymentPolicies", "/api/applicationPolicies",
		"/api/cartridges", "/api/cartridgeGroups", "/api/applications", "/api/autoscalingPolicies/autoscaling-policy-1",
		"/api/networkPartitions/network-partition-1", "/api/applicationPolicies/application-policy-1", "/api/cartridgeGroups/group6",
		"/api/applications/single-cartridge-app", "/api/iaasProviders", "/api/init"} {
		expect(t, "GET "+path, e.admin("GET", path, nil), http.StatusOK, "")
	}
	var app map[string]any
	_ = json.Unmarshal(e.admin("GET", "/api/applications/single-cartridge-app", nil).body, &app)
	if app["status"] != "Created" {
		t.Errorf("application status %v, want Created", app["status"])
	}

	// Deploy.
	expect(t, "deploy", e.admin("POST", "/api/applications/single-cartridge-app/deploy/application-policy-1", nil), http.StatusAccepted, "deployed successfully")
	expect(t, "deploy again", e.admin("POST", "/api/applications/single-cartridge-app/deploy/application-policy-1", nil), http.StatusConflict, "already deployed")
	if got := e.plat.registered["single-cartridge-app.my-php.php.domain"]; len(got) != 1 || got[0].Min != 1 || got[0].Max != 5 || got[0].NetworkPartition != "network-partition-1" {
		t.Errorf("registered cluster instances: %+v", got)
	}
	_ = json.Unmarshal(e.admin("GET", "/api/applications/single-cartridge-app", nil).body, &app)
	if app["status"] != "Deployed" {
		t.Errorf("application status %v, want Deployed", app["status"])
	}
	var rt applicationInfoBean
	r = e.admin("GET", "/api/applications/single-cartridge-app/runtime", nil)
	expect(t, "runtime", r, http.StatusOK, "")
	_ = json.Unmarshal(r.body, &rt)
	if len(rt.ApplicationInstances) != 1 || len(rt.ApplicationInstances[0].ClusterInstances) != 1 || len(rt.ApplicationInstances[0].ClusterInstances[0].Member) != 1 {
		t.Errorf("runtime: %s", r.body)
	}
	expect(t, "cluster", e.admin("GET", "/api/cluster/single-cartridge-app.my-php.php.domain", nil), http.StatusOK, "")
	expect(t, "domain mappings", e.admin("POST", "/api/applications/single-cartridge-app/domainMappings",
		sample(t, "applications__simple__single-cartridge-app__artifacts__domain-mappings.json")), http.StatusCreated, "Domain mappings added")
	expect(t, "get domain mappings", e.admin("GET", "/api/applications/single-cartridge-app/domainMappings", nil), http.StatusOK, "")

	// Removing what the deployed application uses fails, naming the user.
	for _, path := range []string{"/api/autoscalingPolicies/autoscaling-policy-1", "/api/deploymentPolicies/deployment-policy-1",
		"/api/applicationPolicies/application-policy-1", "/api/networkPartitions/network-partition-1", "/api/cartridges/php"} {
		expect(t, "DELETE "+path, e.admin("DELETE", path, nil), http.StatusBadRequest, "single-cartridge-app")
	}
	expect(t, "remove deployed application", e.admin("DELETE", "/api/applications/single-cartridge-app", nil), http.StatusConflict, "undeploy")

	// Undeploy.
	expect(t, "undeploy", e.admin("POST", "/api/applications/single-cartridge-app/undeploy", nil), http.StatusAccepted, "undeployed successfully")
	e.srv.bg.Wait()
	expect(t, "undeploy again", e.admin("POST", "/api/applications/single-cartridge-app/undeploy", nil), http.StatusConflict, "not deployed")
	if ids := e.plat.appIDs(); len(ids) != 0 {
		t.Errorf("clusters left after undeploy: %v", ids)
	}

	// Remove in reverse order.
	removes := []struct{ path, msg string }{
		{"/api/applications/single-cartridge-app", "Application deleted successfully"},
		{"/api/applicationPolicies/application-policy-1", "Application policy deleted successfully"},
		{"/api/cartridgeGroups/group6", "Cartridge Group deleted successfully"},
		{"/api/cartridges/mysql", "Cartridge deleted successfully"},
		{"/api/cartridges/tomcat", "Cartridge deleted successfully"},
		{"/api/cartridges/php", "Cartridge deleted successfully"},
		{"/api/deploymentPolicies/deployment-policy-2", "Deployment policy deleted successfully"},
		{"/api/deploymentPolicies/deployment-policy-1", "Deployment policy deleted successfully"},
		{"/api/networkPartitions/network-partition-2", "Network partition deleted successfully"},
		{"/api/networkPartitions/network-partition-1", "Network partition deleted successfully"},
		{"/api/autoscalingPolicies/autoscaling-policy-1", "Autoscaling policy deleted successfully"},
	}
	for _, rm := range removes {
		expect(t, "DELETE "+rm.path, e.admin("DELETE", rm.path, nil), http.StatusOK, rm.msg)
		expect(t, "GET removed "+rm.path, e.admin("GET", rm.path, nil), http.StatusNotFound, "")
	}
	expect(t, "empty list", e.admin("GET", "/api/cartridges", nil), http.StatusNotFound, "")
}

// TestNetworkPartitionBeforeDeploymentPolicy: a deployment policy naming a missing network
// partition is refused, and a network partition a deployment policy uses cannot be removed.
func TestPolicyReferences(t *testing.T) {
	e := newEnv(t)
	expect(t, "dp without np", e.admin("POST", "/api/deploymentPolicies", sample(t, "deployment-policies__deployment-policy-1.json")), http.StatusBadRequest, "network-partition-1")
	expect(t, "np", e.admin("POST", "/api/networkPartitions", sample(t, "network-partitions__mock__network-partition-1.json")), http.StatusCreated, "")
	expect(t, "dp", e.admin("POST", "/api/deploymentPolicies", sample(t, "deployment-policies__deployment-policy-1.json")), http.StatusCreated, "")
	expect(t, "remove np in use", e.admin("DELETE", "/api/networkPartitions/network-partition-1", nil), http.StatusBadRequest, "deployment-policy-1")
}

// TestRestart: definitions survive a new Server on the same database.
func TestRestart(t *testing.T) {
	e := newEnv(t)
	expect(t, "as", e.admin("POST", "/api/autoscalingPolicies", sample(t, "autoscaling-policies__autoscaling-policy-1.json")), http.StatusCreated, "")
	expect(t, "np", e.admin("POST", "/api/networkPartitions", sample(t, "network-partitions__mock__network-partition-1.json")), http.StatusCreated, "")
	expect(t, "dp", e.admin("POST", "/api/deploymentPolicies", sample(t, "deployment-policies__deployment-policy-1.json")), http.StatusCreated, "")
	s2, err := New(Options{Listener: e.srv.opts.Listener, Users: e.srv.opts.Users, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s2.opts.Policies.Set().Deployment("deployment-policy-1"); !ok {
		t.Fatal("deployment policy not restored")
	}
}

// TestResync: a new Server tells the platform what its state holds.
func TestResync(t *testing.T) {
	e := newEnv(t)
	for _, p := range []struct{ path, file string }{
		{"/api/autoscalingPolicies", "autoscaling-policies__autoscaling-policy-1.json"},
		{"/api/networkPartitions", "network-partitions__mock__network-partition-1.json"},
		{"/api/deploymentPolicies", "deployment-policies__deployment-policy-1.json"},
		{"/api/cartridges", "cartridges__mock__php.json"},
		{"/api/applicationPolicies", "application-policies__application-policy-1.json"},
		{"/api/applications", "applications__simple__single-cartridge-app__artifacts__application.json"},
	} {
		expect(t, p.path, e.admin("POST", p.path, sample(t, p.file)), http.StatusCreated, "")
	}
	expect(t, "deploy", e.admin("POST", "/api/applications/single-cartridge-app/deploy/application-policy-1", nil), http.StatusAccepted, "")
	fresh := newFakePlatform()
	s2, err := New(Options{Listener: e.srv.opts.Listener, Users: e.srv.opts.Users, Logger: slog.New(slog.DiscardHandler),
		Cartridges: fresh, Partitions: fresh, Clusters: fresh, Scaler: fresh, SecretsKey: e.srv.opts.SecretsKey})
	if err != nil {
		t.Fatal(err)
	}
	s2.resync(context.Background())
	if _, ok := fresh.cartridges["php"]; !ok {
		t.Error("cartridge not resynced")
	}
	if _, ok := fresh.partitions["network-partition-1"]; !ok {
		t.Error("network partition not resynced")
	}
	if got := fresh.registered["single-cartridge-app.my-php.php.domain"]; len(got) != 1 {
		t.Errorf("cluster instances not re-registered: %+v", fresh.registered)
	}
}
