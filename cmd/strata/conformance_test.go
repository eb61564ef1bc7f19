package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// samplesDir holds the Apache Stratos samples the tests post, unchanged (see its README.md).
const samplesDir = "testdata/stratos-samples"

// call sends a request as admin and returns the status, body and Location header.
func call(t *testing.T, method, url, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", "s3cret-pass")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

// waitUntil polls f every 200 ms until it is true or the deadline passes.
func waitUntil(t *testing.T, within time.Duration, what string, f func() bool) {
	t.Helper()
	testenv.Eventually(t, within, what, f)
}

// The Stratos samples posted as they are, in the order of Stratos' deploy scripts, against
// `strata up` on the mock IaaS: the application goes Active, what it uses cannot be removed,
// undeploy terminates every member gracefully, and removal in reverse order succeeds.
func TestUpConformanceSamples(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat(samplesDir); err != nil {
		t.Fatalf("conformance samples: %v", err)
	}
	a, args := upArgs(t)
	args = append(args, "--mock-health-interval", "1s", "--monitor-interval", "1s", "--cep-window", "5s")
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, args...)
	api := "http://" + a.api
	p.waitHTTP(t, api+"/healthz")

	// Watch the members' lifecycle on the bus.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var mu sync.Mutex
	seen := map[string][]string{} // member id -> lifecycle events in order
	watcher, err := bus.New(bus.Options{URLs: []string{"tcp://" + a.mqtt}, ClientID: "conformance-watch"})
	if err != nil {
		t.Fatal(err)
	}
	if err := watcher.SubscribeEvents(ctx, "topology/#", func(topic string, e model.Event) {
		var id string
		switch e := e.(type) {
		case *model.MemberActivatedEvent:
			id = e.MemberID
		case *model.MemberMaintenanceModeEvent:
			id = e.MemberID
		case *model.MemberReadyToShutdownEvent:
			id = e.MemberID
		case *model.MemberTerminatedEvent:
			id = e.MemberID
		default:
			return
		}
		mu.Lock()
		seen[id] = append(seen[id], topic[strings.LastIndexByte(topic, '/')+1:])
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	go func() { _ = watcher.Run(ctx) }()

	sample := func(name string) string {
		b, err := os.ReadFile(filepath.Join(samplesDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	posts := []struct{ path, file string }{
		{"/autoscalingPolicies", "autoscaling-policies__autoscaling-policy-1.json"},
		{"/networkPartitions", "network-partitions__mock__network-partition-1.json"},
		{"/deploymentPolicies", "deployment-policies__deployment-policy-1.json"},
		{"/cartridges", "cartridges__mock__php.json"},
		{"/applicationPolicies", "application-policies__application-policy-1.json"},
		{"/applications", "applications__simple__single-cartridge-app__artifacts__application.json"},
	}
	for _, post := range posts {
		code, body, loc := call(t, http.MethodPost, api+"/api"+post.path, sample(post.file))
		if code != http.StatusCreated || !strings.Contains(body, `"status":"success"`) || !strings.Contains(loc, "/api"+post.path+"/") {
			t.Fatalf("POST %s (%s) = %d %s Location %q, want 201 success with a Location", post.path, post.file, code, body, loc)
		}
		if code, _, _ := call(t, http.MethodPost, api+"/api"+post.path, sample(post.file)); code != http.StatusConflict {
			t.Errorf("POST %s again = %d, want 409", post.path, code)
		}
	}
	code, body, _ := call(t, http.MethodPost, api+"/api/applications/single-cartridge-app/deploy/application-policy-1", "")
	if code != http.StatusAccepted {
		t.Fatalf("deploy = %d %s, want 202", code, body)
	}
	waitUntil(t, 90*time.Second, "the application's member to go Active", func() bool {
		return len(activeMembers(runtimeMembers(t, api, "single-cartridge-app"))) >= 1
	})

	// The decision that started the member explains itself.
	explain := exec.Command(strataBin, "explain", "--url", api, "single-cartridge-app.my-php.php.domain")
	explain.Env = append(os.Environ(), "STRATA_PASSWORD=s3cret-pass")
	out, err := explain.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "single-cartridge-app.my-php.php.domain") {
		t.Errorf("strata explain: %v\n%s", err, out)
	}
	t.Logf("strata explain:\n%s", out)

	for _, path := range []string{"/autoscalingPolicies/autoscaling-policy-1", "/deploymentPolicies/deployment-policy-1",
		"/networkPartitions/network-partition-1", "/cartridges/php", "/applicationPolicies/application-policy-1", "/applications/single-cartridge-app"} {
		code, body, _ := call(t, http.MethodDelete, api+"/api"+path, "")
		if code != http.StatusBadRequest && code != http.StatusConflict {
			t.Errorf("DELETE %s while deployed = %d %s, want 400 or 409", path, code, body)
		}
	}

	mu.Lock()
	var members []string
	for id := range seen {
		members = append(members, id)
	}
	mu.Unlock()
	if code, body, _ := call(t, http.MethodPost, api+"/api/applications/single-cartridge-app/undeploy", ""); code != http.StatusAccepted {
		t.Fatalf("undeploy = %d %s, want 202", code, body)
	}
	waitUntil(t, 90*time.Second, "every member to be terminated", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range members {
			ev := seen[id]
			if len(ev) == 0 || ev[len(ev)-1] != "MemberTerminatedEvent" {
				return false
			}
		}
		return true
	})
	mu.Lock()
	for _, id := range members {
		got := strings.Join(seen[id], " ")
		if !strings.Contains(got, "MemberMaintenanceModeEvent MemberReadyToShutdownEvent MemberTerminatedEvent") {
			t.Errorf("member %s: %s, want a graceful termination (maintenance, ready to shut down, terminated)", id, got)
		}
	}
	mu.Unlock()

	waitUntil(t, 30*time.Second, "the application to be undeployed", func() bool {
		code, _, _ := call(t, http.MethodDelete, api+"/api/applications/single-cartridge-app", "")
		return code == http.StatusOK
	})
	for _, path := range []string{"/applicationPolicies/application-policy-1", "/cartridges/php", "/deploymentPolicies/deployment-policy-1",
		"/networkPartitions/network-partition-1", "/autoscalingPolicies/autoscaling-policy-1"} {
		if code, body, _ := call(t, http.MethodDelete, api+"/api"+path, ""); code != http.StatusOK {
			t.Errorf("DELETE %s after undeploy = %d %s, want 200", path, code, body)
		}
		if code, _, _ := call(t, http.MethodGet, api+"/api"+path, ""); code != http.StatusNotFound {
			t.Errorf("GET %s after removal = %d, want 404", path, code)
		}
	}
}

// The Stratos sample scripts users run, examples/stratos/deploy.sh and undeploy.sh, against
// `strata up` with the strata binary as their CLI: every definition is added, the application goes
// Active with its domain mappings, and undeploy.sh takes it all away again.
func TestStratosExampleScripts(t *testing.T) {
	t.Parallel()
	a, args := upArgs(t)
	args = append(args, "--mock-health-interval", "1s", "--monitor-interval", "1s", "--cep-window", "5s")
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, args...)
	api := "http://" + a.api
	p.waitHTTP(t, api+"/healthz")

	script := func(name string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "examples", "stratos", name))
		// The scripts read the user and token too: the test's environment must not choose them.
		cmd.Env = append(os.Environ(), "STRATA_URL="+api, "STRATA_PASSWORD=s3cret-pass", "STRATA_USER=", "STRATA_TOKEN=",
			"STRATA="+strataBin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		t.Logf("%s:\n%s", name, out)
		return string(out)
	}

	out := script("deploy.sh")
	if !strings.Contains(out, "Domain mappings added") {
		t.Errorf("deploy.sh did not add the domain mappings:\n%s", out)
	}
	for _, path := range []string{"/autoscalingPolicies/autoscaling-policy-1", "/networkPartitions/network-partition-2",
		"/deploymentPolicies/deployment-policy-2", "/cartridges/mysql", "/cartridgeGroups/group6",
		"/applicationPolicies/application-policy-1", "/applications/single-cartridge-app/domainMappings"} {
		if code, body, _ := call(t, http.MethodGet, api+"/api"+path, ""); code != http.StatusOK {
			t.Errorf("GET %s after deploy.sh = %d %s, want 200", path, code, body)
		}
	}
	if ms := runtimeMembers(t, api, "single-cartridge-app"); len(activeMembers(ms)) == 0 {
		t.Errorf("members after deploy.sh: %v, want an Active one", ms)
	}

	script("undeploy.sh")
	for _, path := range []string{"/applications", "/cartridges", "/networkPartitions", "/autoscalingPolicies"} {
		if code, body, _ := call(t, http.MethodGet, api+"/api"+path, ""); code != http.StatusNotFound {
			t.Errorf("GET %s after undeploy.sh = %d %s, want 404 (empty)", path, code, body)
		}
	}
}
