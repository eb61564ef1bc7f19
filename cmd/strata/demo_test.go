package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/testenv"
)

// TestUpDemo runs the product's first command, `strata up --demo --demo-exit`, with shorter
// waves and CEP window: real members on the local driver (`strata agent` and `strata
// demo-server`, race-built), load through the load balancer, and the autoscaler scaling out and
// back in. It takes about a minute and a half. strata up runs in process (startUp, the same flags
// and demo as the binary's): the binary at bcrypt's default cost kept members Initialized for
// minutes on a loaded machine, and the binary's own start and exit are TestUpServesAPIAndStopsOnSIGTERM's.
func TestUpDemo(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("the demo runs for about a minute and a half")
	}
	a, args := upArgs(t)
	port := func() string { return strconv.Itoa(testenv.FreePort(t)) }
	args = append(args, "--demo", "--demo-exit", "--demo-dir", "../../examples/demo",
		"--demo-waves", "10s,30s,10s", "--cep-window", "6s",
		"--demo-proxy-port", port(), "--demo-port", port())
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, args...)
	metrics := watchMetrics(t, a.api, "admin", "s3cret-pass")
	if code := p.exitCode(t, 170*time.Second); code != 0 {
		t.Fatalf("strata up --demo --demo-exit: exit status %d\n%s", code, p.out.String())
	}
	out := p.out.String()
	checkPlatformMetrics(t, metrics.max(t))

	// Status lines: "[  12s] low    2 workers   8 req/s  0 err  253 ms | rif ... | 1 Active [127.0.0.2]".
	status := regexp.MustCompile(`(?m)^\[ *\d+s\] (low|high|idle) .*\| (?:.*, )?(\d+) Active \[`)
	maxActive, firstActive := 0, false
	for _, m := range status.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[2])
		if n >= 1 {
			firstActive = true
		}
		maxActive = max(maxActive, n)
	}
	if !firstActive {
		t.Errorf("no status line shows an Active member:\n%s", out)
	}
	if maxActive < 2 {
		t.Errorf("the cluster never had more than %d Active members, want >= 2:\n%s", maxActive, out)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^\[ *\d+s\] decision min \+1 .*: min check: fewer non-terminated members than min`),
		regexp.MustCompile(`(?m)^\[ *\d+s\] decision scale-up \+\d .*: scaling rule: active below required; rif avg [\d.]+ .* -> \d`),
		regexp.MustCompile(`(?m)^\[ *\d+s\] decision none .*: scale-down counted; Stratos acts on the fourth consecutive request`),
		regexp.MustCompile(`(?m)^\[ *\d+s\] decision scale-down -1 .*: scaling rule: active above required; .*terminate 127\.`),
		regexp.MustCompile(`(?m)^  scaled out at (\d+m)?\d+s`),
		regexp.MustCompile(`(?m)^  scaled back in to 1 at `),
	} {
		if !want.MatchString(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if m := regexp.MustCompile(`requests: (\d+) served, (\d+) errors`).FindStringSubmatch(out); m == nil {
		t.Errorf("no request summary:\n%s", out)
	} else if served, _ := strconv.Atoi(m[1]); served == 0 {
		t.Errorf("no request was served:\n%s", out)
	} else if m[2] != "0" {
		t.Logf("%s of %s requests failed", m[2], m[1])
	}
	if strings.Contains(out, "level=ERROR") {
		t.Logf("errors were logged:\n%s", out)
	}
	t.Logf("demo output:\n%s", out)
}
