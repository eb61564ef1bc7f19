package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// examplePolicies is the repository's example policy directory, and examplesApp the cartridge
// and application that use it (examples/policies-app/README.md shows the same flow).
const (
	examplePolicies = "../../examples/policies"
	examplesApp     = "../../examples/policies-app"
)

// cli runs a strata client command against api as admin and returns its output and exit code.
func cli(t *testing.T, api string, args ...string) (string, int) {
	t.Helper()
	args = append([]string{args[0], "--url", api}, args[1:]...)
	cmd := exec.Command(strataBin, args...)
	cmd.Env = append(os.Environ(), "STRATA_PASSWORD=s3cret-pass")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("strata %s: %v", strings.Join(args, " "), err)
	return "", -1
}

// upPolicyArgs are upArgs with the timings that let a mock deployment converge quickly.
func upPolicyArgs(t *testing.T) (upAddrs, []string) {
	a, args := upArgs(t)
	return a, append(args, "--mock-health-interval", "1s", "--monitor-interval", "1s", "--cep-window", "5s", "--lb=false")
}

// deployWeb adds the example cartridge (unless it is there) and application and runs `strata
// deploy-app` with the example application policy, which must reach Active.
func deployWeb(t *testing.T, api string, withCartridge bool) {
	t.Helper()
	if withCartridge {
		if out, code := cli(t, api, "deploy", "cartridge", examplesApp+"/cartridge.json"); code != 0 {
			t.Fatalf("strata deploy cartridge: exit %d\n%s", code, out)
		}
	}
	if out, code := cli(t, api, "deploy", "application", examplesApp+"/application.json"); code != 0 {
		t.Fatalf("strata deploy application: exit %d\n%s", code, out)
	}
	out, code := cli(t, api, "deploy-app", "--timeout", "2m", "web-app", "web-application")
	if code != 0 {
		t.Fatalf("strata deploy-app web-app web-application: exit %d\n%s", code, out)
	}
	t.Logf("strata deploy-app:\n%s", out)
	// The second network partition of the application policy reached the controller: a member
	// runs there.
	code, body, _ := call(t, http.MethodGet, api+"/api/applications/web-app/runtime", "")
	if code != http.StatusOK || !strings.Contains(body, `"networkPartitionId":"network-partition-2"`) {
		t.Errorf("runtime of web-app = %d %s, want a member in network-partition-2", code, body)
	}
}

// copyDir copies the files of src (not its subdirectories) into a fresh directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// lastReload reads GET /api/policyDirectory's last reload.
func lastReload(t *testing.T, api string) (applied bool, reason string) {
	t.Helper()
	code, body, _ := call(t, http.MethodGet, api+"/api/policyDirectory", "")
	if code != http.StatusOK {
		t.Fatalf("GET /api/policyDirectory = %d %s", code, body)
	}
	var v struct {
		LastReload struct {
			Applied bool   `json:"applied"`
			Error   string `json:"error"`
		} `json:"lastReload"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("GET /api/policyDirectory: %v: %s", err, body)
	}
	return v.LastReload.Applied, v.LastReload.Error
}

// strata up --policies on a fresh data dir: the example application reaches Active with the
// directory's network partitions; REST writes to policy kinds answer 409 naming the directory
// while reads work; a reload (SIGHUP) that would orphan the deployed application is refused
// with its reason (log, GET /api/policyDirectory) and the running policies stay; a harmless
// change (a file edit, no signal) is taken.
func TestUpPolicyDirFresh(t *testing.T) {
	t.Parallel()
	dir := copyDir(t, examplePolicies)
	a, args := upPolicyArgs(t)
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, append(args, "--policies", dir)...)
	api := "http://" + a.api
	p.waitHTTP(t, api+"/healthz")
	deployWeb(t, api, true)

	// The directory owns the policies.
	out, code := cli(t, api, "deploy", "network-partition", "testdata/policydir/rest/network-partition-1.json")
	if code == 0 || !strings.Contains(out, "409") || !strings.Contains(out, dir) {
		t.Errorf("strata deploy network-partition with --policies: exit %d, want non-zero with 409 naming %s:\n%s", code, dir, out)
	}
	for _, w := range []struct{ method, path, body string }{
		{http.MethodPost, "/api/autoscalingPolicies", "testdata/policydir/rest/autoscaling-web.json"},
		{http.MethodPut, "/api/autoscalingPolicies", "testdata/policydir/rest/autoscaling-web.json"},
		{http.MethodDelete, "/api/applicationPolicies/web-application", ""},
	} {
		var body []byte
		if w.body != "" {
			var err error
			if body, err = os.ReadFile(w.body); err != nil {
				t.Fatal(err)
			}
		}
		if code, resp, _ := call(t, w.method, api+w.path, string(body)); code != http.StatusConflict || !strings.Contains(resp, dir) {
			t.Errorf("%s %s = %d %s, want 409 naming %s", w.method, w.path, code, resp, dir)
		}
	}
	if out, code := cli(t, api, "list", "network-partition"); code != 0 || !strings.Contains(out, "network-partition-2") {
		t.Errorf("strata list network-partition: exit %d\n%s", code, out)
	}

	// Removing the deployment policy the application uses is refused as a whole.
	if err := os.Remove(filepath.Join(dir, "deployment.yaml")); err != nil {
		t.Fatal(err)
	}
	p.signal(t, syscall.SIGHUP)
	waitUntil(t, 30*time.Second, "the orphaning reload to be refused", func() bool {
		applied, reason := lastReload(t, api)
		return !applied && strings.Contains(reason, "deployment policy web-deployment")
	})
	// The status is recorded a moment before the manager logs the refusal.
	waitUntil(t, 10*time.Second, "the refusal to be logged", func() bool {
		return strings.Contains(p.out.String(), "policy reload refused")
	})
	if code, body, _ := call(t, http.MethodGet, api+"/api/deploymentPolicies/web-deployment", ""); code != http.StatusOK {
		t.Errorf("GET web-deployment after the refused reload = %d %s, want the running policy", code, body)
	}
	if code, body, _ := call(t, http.MethodPost, api+"/api/policyDirectory/reload", ""); code != http.StatusConflict || !strings.Contains(body, "web-deployment") {
		t.Errorf("POST /api/policyDirectory/reload = %d %s, want 409 with the reason", code, body)
	}

	_, metrics, _ := get(t, api+"/metrics", "", "")
	// SIGHUP and POST refused it (the file poll may have too).
	for _, want := range []string{`(?m)^strata_policy_reloads_total\{result="refused"\} [2-9]$`, `(?m)^strata_policy_last_reload_applied 0$`} {
		if !regexp.MustCompile(want).MatchString(metrics) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// Put back and add a policy: the file poll takes it without a signal.
	b, err := os.ReadFile(filepath.Join(examplePolicies, "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	extra := "\n---\nkind: DeploymentPolicy\nid: web-deployment-2\nnetworkPartitions:\n  - id: network-partition-2\n    partitions: [{id: network-partition-2-partition-1, partitionMax: 1}]\n"
	if err := os.WriteFile(filepath.Join(dir, "deployment.yaml"), append(b, extra...), 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the new deployment policy to be served", func() bool {
		code, _, _ := call(t, http.MethodGet, api+"/api/deploymentPolicies/web-deployment-2", "")
		return code == http.StatusOK
	})
	if applied, reason := lastReload(t, api); !applied {
		t.Errorf("last reload not applied: %s", reason)
	}
}

// A data dir where a REST client had posted policies (network-partition-1 without the
// partition-2 the example deployment policy uses, an autoscaling policy "web" of its own) starts
// with --policies examples/policies: the directory wins, the superseded policies are logged,
// and the example application reaches Active with the cartridge posted in the first run.
func TestUpPolicyDirAfterRESTDefinitions(t *testing.T) {
	t.Parallel()
	a, args := upPolicyArgs(t)
	api := "http://" + a.api
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, args...)
	p.waitHTTP(t, api+"/healthz")
	for _, d := range []struct{ kind, file string }{
		{"network-partition", "testdata/policydir/rest/network-partition-1.json"},
		{"autoscaling-policy", "testdata/policydir/rest/autoscaling-web.json"},
		{"deployment-policy", "testdata/policydir/rest/deployment-rest.json"},
		{"cartridge", examplesApp + "/cartridge.json"},
	} {
		if out, code := cli(t, api, "deploy", d.kind, d.file); code != 0 {
			t.Fatalf("strata deploy %s %s: exit %d\n%s", d.kind, d.file, code, out)
		}
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.exitCode(t, 10*time.Second); code != 0 {
		t.Fatalf("first run: exit %d", code)
	}

	p = startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, append(args, "--policies", examplePolicies)...)
	p.waitHTTP(t, api+"/healthz")
	for _, id := range []string{"NetworkPartition/network-partition-1", "AutoscalingPolicy/web", "DeploymentPolicy/rest-deployment"} {
		if !strings.Contains(p.out.String(), "policy superseded by the policy directory") || !strings.Contains(p.out.String(), id) {
			t.Errorf("the log does not say that the stored %s was superseded", id)
		}
	}
	deployWeb(t, api, false)
	code, body, _ := call(t, http.MethodGet, api+"/api/networkPartitions/network-partition-1", "")
	if code != http.StatusOK || !strings.Contains(body, "partition-2") {
		t.Errorf("GET network-partition-1 = %d %s, want the directory's (with partition-2)", code, body)
	}
}
