package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

const adminPassword = "s3cret-pass"

// testOptions are a platform on free ports in a fresh data dir, with short timings.
func testOptions(t *testing.T) Options {
	return Options{
		DataDir:         t.TempDir(),
		API:             "127.0.0.1:0",
		MQTTListen:      "127.0.0.1:0",
		AdminPassword:   adminPassword,
		LB:              true,
		LBHost:          "127.0.0.1",
		CEP:             CEPOptions{Thrift: "127.0.0.1:0", ThriftTLS: "127.0.0.1:0", Window: time.Second, StartupGrace: -1},
		MockInterval:    250 * time.Millisecond,
		MonitorInterval: time.Second,
		PasswordCost:    bcrypt.MinCost,
		Logger:          testenv.Logger(t, slog.LevelWarn),
		Stdout:          io.Discard,
	}
}

// started is a running platform: its App, the cancel that stops it and Run's result.
type started struct {
	app    *App
	cancel context.CancelFunc
	done   chan error
}

// start runs the platform of o until the test ends and waits until it is ready.
func start(t *testing.T, o Options) *started {
	t.Helper()
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{app: a, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	select {
	case <-a.Ready():
	case err := <-s.done:
		s.done <- err
		t.Fatalf("Run returned before the platform was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the platform was not ready within 30s")
	}
	return s
}

// stop cancels Run's context and returns Run's result.
func (s *started) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of its context ending")
		return nil
	}
}

// call sends a request as the admin and returns the status and the body.
func call(t *testing.T, client *http.Client, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", adminPassword)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestNewNeedsDataDir(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{}); err == nil {
		t.Error("New without DataDir: no error")
	}
}

// TestRunServesHealthAndReadiness: once Ready, Addrs names the ports bound for port 0, /healthz
// and /readyz answer 200, the metrics of every component are served, and Run returns nil when
// its context ends.
func TestRunServesHealthAndReadiness(t *testing.T) {
	t.Parallel()
	s := start(t, testOptions(t))
	addrs := s.app.Addrs()
	for name, a := range map[string]any{"API": addrs.API, "MQTT": addrs.MQTT, "Thrift": addrs.Thrift, "ThriftTLS": addrs.ThriftTLS} {
		if a == nil || strings.HasSuffix(a.(interface{ String() string }).String(), ":0") {
			t.Errorf("Addrs().%s = %v, want a bound address", name, a)
		}
	}
	if len(addrs.Brokers) != 1 || !strings.HasSuffix(addrs.Brokers[0], addrs.MQTT.String()) {
		t.Errorf("Addrs().Brokers = %v, want the embedded broker at %v", addrs.Brokers, addrs.MQTT)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	api := "http://" + addrs.API.String()
	if code, body := call(t, client, http.MethodGet, api+"/healthz", ""); code != http.StatusOK {
		t.Errorf("GET /healthz = %d %s, want 200", code, body)
	}
	testenv.Eventually(t, 20*time.Second, "GET /readyz 200", func() bool {
		code, _ := call(t, client, http.MethodGet, api+"/readyz", "")
		return code == http.StatusOK
	})
	_, body := call(t, client, http.MethodGet, api+"/readyz", "")
	var r struct{ Checks map[string]string }
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Checks["broker"] != "ok" || r.Checks["controller"] != "ok" {
		t.Errorf("GET /readyz = %s (%v), want every check ok", body, err)
	}
	if code, body := call(t, client, http.MethodGet, api+"/", ""); code != http.StatusOK || !strings.Contains(body, `name="password"`) {
		t.Errorf("GET / = %d, want the web console's login form:\n%s", code, body)
	}
	_, metrics := call(t, client, http.MethodGet, api+"/metrics", "")
	for _, m := range []string{"strata_broker_clients_connected", "strata_autoscaler_", "strata_cep_", "strata_controller_"} {
		if !strings.Contains(metrics, m) {
			t.Errorf("GET /metrics has no %s", m)
		}
	}
	if err := s.stop(t); err != nil {
		t.Errorf("Run = %v after its context ended, want nil", err)
	}
}

// TestConsoleOff: with NoConsole (--console=false), "/" answers 404 like any path outside the API.
func TestConsoleOff(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	o.NoConsole = true
	s := start(t, o)
	code, body := call(t, &http.Client{Timeout: 10 * time.Second}, http.MethodGet, "http://"+s.app.Addrs().API.String()+"/", "")
	if code != http.StatusNotFound || !strings.Contains(body, "no such resource") {
		t.Errorf("GET / with NoConsole = %d %s, want 404", code, body)
	}
}

// TestRunRefusesAPortInUse: a second platform on the first one's API port fails at once, naming
// the flag, and the first one keeps serving.
func TestRunRefusesAPortInUse(t *testing.T) {
	t.Parallel()
	first := start(t, testOptions(t))
	o := testOptions(t)
	o.API = first.app.Addrs().API.String()
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "--api "+o.API) {
		t.Fatalf("Run on a port in use = %v, want an error naming --api %s", err, o.API)
	}
	if code, _ := call(t, http.DefaultClient, http.MethodGet, "http://"+o.API+"/healthz", ""); code != http.StatusOK {
		t.Errorf("the first platform's /healthz = %d, want 200", code)
	}
}

// TestDeployMockApplication: the Stratos single-cartridge sample, posted over REST and deployed,
// gets an Active member on the mock IaaS.
func TestDeployMockApplication(t *testing.T) {
	t.Parallel()
	s := start(t, testOptions(t))
	deployMock(t, s, 1)
}

// mockCluster is the cluster of the single-cartridge sample.
const mockCluster = "single-cartridge-app.my-php.php.domain"

// deployMock posts the Stratos single-cartridge sample with cartridgeMin min, deploys it and
// waits until min members are Active; it returns them.
func deployMock(t *testing.T, s *started, min int) []model.Member {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second} // generous: parallel platforms share a loaded CPU
	deploySample(t, s, client, func(_, body string) string {
		return strings.Replace(body, `"cartridgeMin": 1`, fmt.Sprintf(`"cartridgeMin": %d`, min), 1)
	})
	var active []model.Member
	testenv.Eventually(t, 60*time.Second, fmt.Sprintf("%d Active members", min), func() bool {
		active = active[:0]
		for _, m := range s.app.Controller().Members(mockCluster) {
			if m.Status() == model.MemberActive {
				active = append(active, m)
			}
		}
		return len(active) >= min
	})
	return active
}

// deploySample posts Stratos' single-cartridge sample over REST, each file through edit when it
// is not nil, deploys it and waits until its member is Active.
func deploySample(t *testing.T, s *started, client *http.Client, edit func(file, body string) string) {
	t.Helper()
	api := postSample(t, s, client, edit)
	testenv.Eventually(t, 60*time.Second, "the application's member to go Active over REST", func() bool {
		_, body := call(t, client, http.MethodGet, api+"/applications/single-cartridge-app/runtime", "")
		return strings.Contains(body, `"Active"`)
	})
}

// postSample posts Stratos' single-cartridge sample over REST, each file through edit when it is
// not nil, and deploys it; it returns the API's base URL.
func postSample(t *testing.T, s *started, client *http.Client, edit func(file, body string) string) string {
	t.Helper()
	api := "http://" + s.app.Addrs().API.String() + "/api"
	posts := []struct{ path, file string }{
		{"/autoscalingPolicies", "autoscaling-policies__autoscaling-policy-1.json"},
		{"/networkPartitions", "network-partitions__mock__network-partition-1.json"},
		{"/deploymentPolicies", "deployment-policies__deployment-policy-1.json"},
		{"/cartridges", "cartridges__mock__php.json"},
		{"/applicationPolicies", "application-policies__application-policy-1.json"},
		{"/applications", "applications__simple__single-cartridge-app__artifacts__application.json"},
	}
	for _, p := range posts {
		b, err := os.ReadFile(filepath.Join("testdata", "stratos-samples", p.file))
		if err != nil {
			t.Fatal(err)
		}
		body := string(b)
		if edit != nil {
			body = edit(p.file, body)
		}
		if code, body := call(t, client, http.MethodPost, api+p.path, body); code != http.StatusCreated {
			t.Fatalf("POST %s (%s) = %d %s, want 201", p.path, p.file, code, body)
		}
	}
	if code, body := call(t, client, http.MethodPost, api+"/applications/single-cartridge-app/deploy/application-policy-1", ""); code != http.StatusAccepted {
		t.Fatalf("deploy = %d %s, want 202", code, body)
	}
	return api
}

// TestRunStopsEveryGoroutine: when ctx ends, Run returns nil, and every goroutine the platform
// started has exited. Not parallel: it counts the process's goroutines.
func TestRunStopsEveryGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	o := testOptions(t)
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		t.Fatalf("Run returned before the platform was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the platform was not ready within 30s")
	}
	transport := &http.Transport{}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	if code, _ := call(t, client, http.MethodGet, "http://"+a.Addrs().API.String()+"/healthz", ""); code != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", code)
	}
	transport.CloseIdleConnections()
	if runtime.NumGoroutine() <= before+10 {
		t.Fatalf("%d goroutines while running, %d before: the count cannot show a leak", runtime.NumGoroutine(), before)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want nil after ctx ended", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30s of its context ending")
	}
	// Run has returned: nothing it started may still run. (Goroutines that have returned may
	// take the scheduler a moment to retire.)
	var stacks []byte
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("goroutines:\n%s", stacks)
		}
	})
	testenv.Eventually(t, 5*time.Second, "the goroutine count to fall back to its count before Run", func() bool {
		buf := make([]byte, 1<<20)
		stacks = buf[:runtime.Stack(buf, true)]
		return runtime.NumGoroutine() <= before
	})
}

// The platform generates its secrets key in the data dir, mode 0600, at first start; a
// --secrets-key file that does not exist is refused rather than generated.
func TestSecretsKeyFile(t *testing.T) {
	o := testOptions(t)
	start(t, o).stop(t)
	fi, err := os.Stat(filepath.Join(o.DataDir, "secrets.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets.key: %v", err)
	}
	o2 := testOptions(t)
	o2.SecretsKey = filepath.Join(t.TempDir(), "missing.key")
	a, err := New(o2)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "--secrets-key") {
		t.Errorf("Run with a missing --secrets-key file: %v", err)
	}
}

// Run closes what it opened: a platform started again on the same data dir, in the same process,
// opens its state (bbolt's lock on manager.db was held forever when Run closed nothing) and keeps
// the admin's password.
func TestRunAgainOnTheSameDataDir(t *testing.T) {
	t.Parallel()
	o := testOptions(t)
	if err := start(t, o).stop(t); err != nil {
		t.Fatalf("first Run: %v", err)
	}
	o.AdminPassword = ""
	s := start(t, o)
	code, body := call(t, http.DefaultClient, http.MethodGet, "http://"+s.app.Addrs().API.String()+"/api/init", "")
	if code != http.StatusOK {
		t.Errorf("GET /api/init after the restart = %d %s, want 200 with the first start's password", code, body)
	}
	if err := s.stop(t); err != nil {
		t.Errorf("second Run: %v", err)
	}
}
