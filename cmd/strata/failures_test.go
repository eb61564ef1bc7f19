package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// failingEnv is `strata up` with a local network partition, policies and one cartridge per
// server command given, each in an application of its own (app-<type>).
func failingEnv(t *testing.T, commands map[string]string) (api, dataDir string) {
	t.Helper()
	if testing.Short() {
		t.Skip("real processes: skipped with -short")
	}
	a, args := upArgs(t)
	api, dataDir = "http://"+a.api, args[2]
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, append(args, "--monitor-interval", "1s")...)
	t.Cleanup(func() { killMembersInProcess(dataDir) })
	p.waitHTTP(t, api+"/healthz")
	posts := localPolicies()
	for typ, command := range commands {
		posts = append(posts, post{"/cartridges", map[string]any{
			"type": typ, "provider": "apache", "category": "framework", "host": typ + ".strata.local", "multiTenant": "false",
			"portMapping":  []map[string]any{{"name": "http", "protocol": "http", "port": testenv.FreePort(t), "proxyPort": testenv.FreePort(t)}},
			"iaasProvider": []map[string]any{{"type": "local", "property": []map[string]string{{"name": "command", "value": command}}}},
		}}, post{"/applications", map[string]any{"applicationId": "app-" + typ, "alias": "app-" + typ, "components": map[string]any{
			"cartridges": []map[string]any{{"type": typ, "cartridgeMin": 1, "cartridgeMax": 2, "subscribableInfo": map[string]any{
				"alias": "web", "autoscalingPolicy": localAutoscale, "deploymentPolicy": localDeploy}}}}}})
	}
	postAll(t, api, posts)
	return api, dataDir
}

// runCLI runs the strata binary as a user would and returns its exit code, output and duration.
func runCLI(t *testing.T, api string, args ...string) (int, string, time.Duration) {
	t.Helper()
	cmd := exec.Command(strataBin, args...)
	cmd.Env = append(os.Environ(), "STRATA_URL="+api, "STRATA_PASSWORD=s3cret-pass", "STRATA_TOKEN=")
	began := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(began)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out), took
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out), took
	}
	t.Fatalf("strata %v: %v", args, err)
	return 0, "", 0
}

// startFailureOf returns the start failure the runtime view shows for the application's first
// cluster instance that has one.
func startFailureOf(t *testing.T, api, app string) map[string]any {
	t.Helper()
	code, body, _ := call(t, http.MethodGet, api+"/api/applications/"+app+"/runtime", "")
	if code != http.StatusOK {
		t.Fatalf("runtime of %s = %d %s", app, code, body)
	}
	var rt struct {
		ApplicationInstances []struct {
			ClusterInstances []struct {
				StartFailure map[string]any `json:"startFailure"`
			} `json:"clusterInstances"`
		} `json:"applicationInstances"`
	}
	if err := json.Unmarshal([]byte(body), &rt); err != nil {
		t.Fatal(err)
	}
	for _, ai := range rt.ApplicationInstances {
		for _, ci := range ai.ClusterInstances {
			if ci.StartFailure != nil {
				return ci.StartFailure
			}
		}
	}
	t.Errorf("runtime of %s shows no start failure: %s", app, body)
	return nil
}

// A cartridge whose members cannot start makes deploy-app (and subscribe) stop within 10 s with
// the reason and a non-zero exit, instead of waiting out its timeout; the runtime view shows the reason on the
// cluster instance, and explain shows the decision's start as failed, with the reason.
func TestDeployAppStopsOnStartFailure(t *testing.T) {
	t.Parallel()
	api, _ := failingEnv(t, map[string]string{
		// An unknown image: the driver refuses the start.
		"noimage": `exec "/no/such/image/bin/server" --listen "$STRATA_MEMBER_IP:$PORTS"`,
		// A command the shell cannot find once started: the member ends before it is Active.
		"nocommand": `exec ./bin/no-such-server`,
	})
	for _, tc := range []struct {
		typ, reason string
		explain     string // what explain shows: the decision's start failed, or its member ended
	}{
		{typ: "noimage", reason: "program /no/such/image/bin/server not found", explain: "start failed in " + localPartition},
		{typ: "nocommand", reason: "ended before it became active: server: exit status 127", explain: "ended before it became active"},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			app := "app-" + tc.typ
			code, out, took := runCLI(t, api, "deploy-app", "--timeout", "60s", app, localAppPolicy)
			if code == 0 || took > 10*time.Second || !strings.Contains(out, tc.reason) || strings.Contains(out, "did not converge") {
				t.Errorf("deploy-app exited %d after %v, want non-zero within 10 s with %q:\n%s", code, took.Round(time.Millisecond), tc.reason, out)
			}
			t.Logf("deploy-app (%v):\n%s", took.Round(time.Millisecond), out)
			f := startFailureOf(t, api, app)
			if reason, _ := f["reason"].(string); !strings.Contains(reason, tc.reason) || f["partitionId"] != localPartition || f["time"] == nil {
				t.Errorf("runtime startFailure %v, want reason with %q in partition %s", f, tc.reason, localPartition)
			}
			cluster := model.ClusterID(app, "web", tc.typ)
			code, out, _ = runCLI(t, api, "explain", "-n", "20", cluster)
			if code != 0 || !strings.Contains(out, tc.explain) || !strings.Contains(out, tc.reason) {
				t.Errorf("explain %s exited %d, want %q with %q:\n%s", cluster, code, tc.explain, tc.reason, out)
			}
		})
	}
	// subscribe waits the same way.
	code, out, took := runCLI(t, api, "subscribe", "--timeout", "60s", "--cartridge", "noimage", "--alias", "shop",
		"--autoscaling-policy", localAutoscale, "--deployment-policy", localDeploy)
	if want := "program /no/such/image/bin/server not found"; code == 0 || took > 10*time.Second || !strings.Contains(out, want) {
		t.Errorf("subscribe exited %d after %v, want non-zero within 10 s with %q:\n%s", code, took.Round(time.Millisecond), want, out)
	}
	// The failed application can be undeployed as usual.
	if code, out, _ := runCLI(t, api, "undeploy", "--timeout", "30s", "app-noimage"); code != 0 {
		t.Errorf("undeploy: %d\n%s", code, out)
	}
}
