package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/testenv"
)

// metricSum adds up the samples of a metric (every label set) in /metrics; a metric /metrics
// does not have fails the test rather than reading as 0.
func metricSum(t *testing.T, api, name string) float64 {
	t.Helper()
	code, body, _ := get(t, api+"/metrics", "", "")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d %.200s", code, body)
	}
	sum, found := 0.0, false
	for k, v := range testenv.ParseMetrics(t, body) {
		if testenv.MetricName(k) == name {
			sum, found = sum+v, true
		}
	}
	if !found {
		t.Fatalf("/metrics has no %s", name)
	}
	return sum
}

// TestUpSIGTERMDuringLargeUndeploy: `strata up` stopped with SIGTERM while it undeploys an
// application of thousands of mock members (10,000 asked for) exits within 10 s; started again on
// the same data dir it resumes the undeploy: no member is left and none is started.
func TestUpSIGTERMDuringLargeUndeploy(t *testing.T) {
	const members = 10000
	a, args := upArgs(t)
	env := []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}
	p := start(t, env, args...)
	api := "http://" + a.api
	p.waitHTTP(t, api+"/healthz")
	sample := func(name string) string {
		b, err := os.ReadFile(filepath.Join(samplesDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	n := strconv.Itoa(members)
	posts := []struct{ path, body string }{
		{"/autoscalingPolicies", sample("autoscaling-policies__autoscaling-policy-1.json")},
		{"/networkPartitions", sample("network-partitions__mock__network-partition-1.json")},
		{"/deploymentPolicies", strings.Replace(sample("deployment-policies__deployment-policy-1.json"), `"partitionMax": 20`, `"partitionMax": `+n, 1)},
		{"/cartridges", sample("cartridges__mock__php.json")},
		{"/applicationPolicies", sample("application-policies__application-policy-1.json")},
		{"/applications", strings.NewReplacer(`"cartridgeMin": 1,`, `"cartridgeMin": `+n+`,`, `"cartridgeMax": 5,`, `"cartridgeMax": `+n+`,`).
			Replace(sample("applications__simple__single-cartridge-app__artifacts__application.json"))},
	}
	for _, post := range posts {
		if code, body, _ := call(t, http.MethodPost, api+"/api"+post.path, post.body); code != http.StatusCreated {
			t.Fatalf("POST %s = %d %s, want 201", post.path, code, body)
		}
	}
	if code, body, _ := call(t, http.MethodPost, api+"/api/applications/single-cartridge-app/deploy/application-policy-1", ""); code != http.StatusAccepted {
		t.Fatalf("deploy = %d %s, want 202", code, body)
	}
	// Half the members Active before the undeploy: theirs are graceful terminations (clean-up
	// asked and answered), so the undeploy still runs when the SIGTERM comes. With 1 000 members
	// of any state it could be over within the second the shutdown takes, once the controller
	// gathered its state writes (nothing was left to resume; make test failed so).
	waitUntil(t, 3*time.Minute, "half the members Active", func() bool {
		code, body, _ := get(t, api+"/metrics", "", "")
		return code == http.StatusOK && testenv.ParseMetrics(t, body)[`strata_controller_members{state="Active"}`] >= members/2
	})
	if code, body, _ := call(t, http.MethodPost, api+"/api/applications/single-cartridge-app/undeploy", ""); code != http.StatusAccepted {
		t.Fatalf("undeploy = %d %s, want 202", code, body)
	}
	left := metricSum(t, api, "strata_controller_members")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if code := p.exitCode(t, 10*time.Second); code != 0 {
		t.Errorf("exit status after SIGTERM = %d, want 0", code)
	}
	t.Logf("SIGTERM with %.0f members being undeployed: exited in %v", left, time.Since(began).Round(time.Millisecond))

	p2 := start(t, env, args...)
	p2.waitHTTP(t, api+"/healthz")
	waitUntil(t, 3*time.Minute, "the resumed undeploy to finish", func() bool {
		_, body, _ := call(t, http.MethodGet, api+"/api/applications/single-cartridge-app", "")
		return strings.Contains(body, `"status":"Created"`)
	})
	if m, s := metricSum(t, api, "strata_controller_members"), metricSum(t, api, "strata_controller_member_starts_total"); m != 0 || s != 0 {
		t.Errorf("after the resumed undeploy: %s members, %s started since the restart; want none", fmt.Sprint(m), fmt.Sprint(s))
	}
	if !strings.Contains(p2.out.String(), "resuming an undeploy") {
		t.Errorf("the restarted strata up did not log that it resumed the undeploy:\n%s", p2.out.String())
	}
}
