package main

import (
	"strings"
	"testing"
	"time"
)

// TestCrashLoopBacksOffWithLocalMembers: a cartridge whose command exits at once is not replaced
// twice a second forever (issue 15: 60 members in 30 s): in 20 s its cluster starts a handful of
// members, and the runtime view shows the crash-loop back-off and the quick failures.
func TestCrashLoopBacksOffWithLocalMembers(t *testing.T) {
	t.Parallel()
	api, _ := failingEnv(t, map[string]string{"crash": `false`})
	code, out, _ := runCLI(t, api, "deploy-app", "--timeout", "30s", "app-crash", localAppPolicy)
	if code == 0 {
		t.Fatalf("deploy-app of a crashing cartridge succeeded:\n%s", out)
	}
	began := time.Now()
	<-time.After(20 * time.Second) // the window the starts are counted in
	f := startFailureOf(t, api, "app-crash")
	failures, _ := f["failures"].(float64)
	quick, _ := f["quickFailures"].(float64)
	until, _ := f["backoffUntil"].(string)
	t.Logf("after %v: %v", time.Since(began).Round(time.Second), f)
	if failures < 2 || failures > 6 {
		t.Errorf("%v members of the crashing cartridge failed in about 20 s, want 2 to 6 (backing off, still retrying)", failures)
	}
	if quick < 2 || until == "" {
		t.Errorf("runtime startFailure %v, want quickFailures and backoffUntil", f)
	}
	code, out, _ = runCLI(t, api, "explain", "-n", "50", "app-crash.web.crash.domain")
	if !strings.Contains(out, "start held back: crash-loop back-off until") {
		t.Errorf("explain (exit %d) does not show the hold:\n%s", code, out)
	}
}
