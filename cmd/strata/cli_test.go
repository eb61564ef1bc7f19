package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"go.yaml.in/yaml/v3"

	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/buildinfo"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/manager"
	"github.com/strata-paas/strata/manager/client"
)

// cliEnv is a manager API in the test process (no platform behind it) and the client commands
// pointed at it through STRATA_URL and STRATA_PASSWORD.
type cliEnv struct {
	t       *testing.T
	history *history.Memory
}

const cliPassword = "cli-secret"

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "manager.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	users, err := manager.NewUsers(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := users.EnsureAdmin(cliPassword); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	hist := history.NewMemory(history.Options{})
	s, err := manager.New(manager.Options{Listener: ln, Users: users, History: hist, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	t.Setenv("STRATA_URL", ts.URL)
	t.Setenv("STRATA_USER", "")
	t.Setenv("STRATA_PASSWORD", cliPassword)
	t.Setenv("STRATA_TOKEN", "")
	return &cliEnv{t: t, history: hist}
}

// strata runs a command line through the dispatcher, as the binary would.
func (e *cliEnv) strata(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return out.String(), errb.String(), code
}

// must runs a command line that has to succeed.
func (e *cliEnv) must(args ...string) string {
	e.t.Helper()
	out, errs, code := e.strata(args...)
	if code != 0 {
		e.t.Fatalf("strata %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

func cliFile(name string) string { return filepath.Join("testdata", "cli", name) }

// deployAll adds one definition of each kind the test application needs.
func (e *cliEnv) deployAll() {
	e.t.Helper()
	for _, d := range [][2]string{
		{"autoscaling-policy", "autoscaling-policy.json"}, {"network-partition", "network-partition.json"},
		{"deployment-policy", "deployment-policy.json"}, {"application-policy", "application-policy.json"},
		{"cartridge", "cartridge.json"}, {"application", "application.json"},
	} {
		e.must("deploy", d[0], cliFile(d[1]))
	}
}

// Every kind is accepted in the singular, in the plural (as --help names them) and as Stratos'
// REST collection name, which is what the README's `strata deploy autoscalingPolicies FILE` uses.
func TestClientKindSpellings(t *testing.T) {
	e := newCLIEnv(t)
	if out := e.must("deploy", "autoscalingPolicies", cliFile("autoscaling-policy.json")); !strings.Contains(out, "added successfully") {
		t.Fatalf("deploy autoscalingPolicies: %s", out)
	}
	for _, spelling := range []string{"autoscaling-policy", "autoscaling-policies", "autoscalingPolicies", "autoscalingPolicy", "AUTOSCALING_POLICIES"} {
		if out := e.must("list", spelling); !strings.Contains(out, "cli-asp") {
			t.Errorf("list %s: %s", spelling, out)
		}
	}
	for _, k := range client.Kinds {
		for _, spelling := range []string{k.Name, k.Plural, k.RESTName()} {
			if out, errs, code := e.strata("list", spelling); code != 0 {
				t.Errorf("list %s: exit %d %s%s", spelling, code, out, errs)
			}
		}
	}
	// Every kind's collection is one the manager routes.
	if _, errs, code := e.strata("list", "kubernetesClusters"); code != 2 || !strings.Contains(errs, `unknown kind "kubernetesClusters"`) {
		t.Errorf("list kubernetesClusters: exit %d %s", code, errs)
	}
}

// Flags may follow the positional arguments (and sit between them); "--" ends the flags.
func TestClientFlagsAnywhere(t *testing.T) {
	e := newCLIEnv(t)
	if out := e.must("deploy", "autoscaling-policies", cliFile("autoscaling-policy.json"), "--output", "json"); !json.Valid([]byte(out)) {
		t.Errorf("deploy ... --output json: not JSON: %s", out)
	}
	for _, args := range [][]string{
		{"list", "autoscaling-policy", "--output", "json"},
		{"list", "autoscaling-policy", "-output=json"},
		{"list", "--output", "json", "autoscaling-policy"},
		{"list", "autoscaling-policy", "cli-asp", "--output", "json"},
		{"list", "--url", os.Getenv("STRATA_URL"), "autoscaling-policy", "--output=json", "--", "cli-asp"},
	} {
		var ps []map[string]any
		if out := e.must(args...); json.Unmarshal([]byte(out), &ps) != nil || len(ps) != 1 || ps[0]["id"] != "cli-asp" {
			t.Errorf("strata %s: %s", strings.Join(args, " "), out)
		}
	}
	if _, errs, code := e.strata("list", "--", "--output"); code != 2 || !strings.Contains(errs, `unknown kind "--output"`) {
		t.Errorf("list -- --output: exit %d %s", code, errs)
	}
}

// Under --output json every error is one JSON object (under yaml, YAML), a 401 with the hint
// where the admin password is.
func TestClientErrorsInOutputFormat(t *testing.T) {
	e := newCLIEnv(t)
	type jsonError struct {
		Status, Message string
		Code            int
	}
	parse := func(args []string, stderr string) jsonError {
		t.Helper()
		var je jsonError
		if err := json.Unmarshal([]byte(stderr), &je); err != nil || je.Status != "error" || je.Message == "" {
			t.Errorf("strata %s: stderr is not a JSON error (%v): %q", strings.Join(args, " "), err, stderr)
		}
		return je
	}
	for _, tc := range []struct {
		name string
		args []string
		code int
		has  string
	}{
		{name: "unknown kind", args: []string{"list", "gadgets", "--output", "json"}, code: 2, has: `unknown kind "gadgets"`},
		{name: "unknown flag", args: []string{"list", "cartridges", "--output", "json", "--colour"}, code: 2, has: "colour"},
		{name: "missing argument", args: []string{"runtime", "--output", "json"}, code: 2, has: "usage: strata runtime"},
		{name: "missing file", args: []string{"deploy", "cartridges", "no-such-file.json", "--output", "json"}, code: 1, has: "no-such-file.json"},
		{name: "not found", args: []string{"runtime", "no-such-app", "--output", "json"}, code: 1, has: "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := e.strata(tc.args...)
			if code != tc.code || out != "" {
				t.Errorf("exit %d (want %d), stdout %q", code, tc.code, out)
			}
			if je := parse(tc.args, errs); !strings.Contains(je.Message, tc.has) {
				t.Errorf("message %q lacks %q", je.Message, tc.has)
			}
		})
	}

	t.Setenv("STRATA_PASSWORD", "wrong")
	args := []string{"list", "cartridges", "--output", "json"}
	_, errs, code := e.strata(args...)
	je := parse(args, errs)
	if code != 1 || je.Code != 401 || !strings.Contains(je.Message, "admin-password") || !strings.Contains(je.Message, "STRATA_ADMIN_PASSWORD") {
		t.Errorf("wrong password: exit %d %+v", code, je)
	}
	// In a table too, the 401 says where the password is.
	if _, errs, code := e.strata("list", "cartridges"); code != 1 || !strings.Contains(errs, "401") || !strings.Contains(errs, "<data-dir>/admin-password") {
		t.Errorf("wrong password, table: exit %d %s", code, errs)
	}
	t.Setenv("STRATA_PASSWORD", "")
	if _, errs, _ := e.strata("list", "cartridges"); !strings.Contains(errs, "STRATA_PASSWORD is not set") {
		t.Errorf("no password: %s", errs)
	}
	t.Setenv("STRATA_PASSWORD", cliPassword)
	if _, errs, code := e.strata("list", "cartridges", "--url", "http://127.0.0.1:1"); code != 1 || !strings.Contains(errs, "is strata up running") {
		t.Errorf("no server: exit %d %s", code, errs)
	}

	// YAML: the data and the errors.
	e.must("deploy", "cartridges", cliFile("cartridge.json"))
	var cs []map[string]any
	if out := e.must("list", "cartridges", "--output", "yaml"); yaml.Unmarshal([]byte(out), &cs) != nil || len(cs) != 1 || cs[0]["type"] != "cli-web" {
		t.Errorf("list --output yaml: %s", out)
	}
	_, errs, _ = e.strata("list", "gadgets", "--output", "yaml")
	var ye map[string]any
	if yaml.Unmarshal([]byte(errs), &ye) != nil || ye["status"] != "error" {
		t.Errorf("yaml error: %q", errs)
	}
	if _, errs, code := e.strata("list", "cartridges", "--output", "xml"); code != 2 || !strings.Contains(errs, "want table, json or yaml") {
		t.Errorf("--output xml: exit %d %s", code, errs)
	}
}

// camelKey is the one key style of every JSON output: camelCase (Stratos' acronyms such as
// defaultPrivateIP included).
var camelKey = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// badKeys returns every object key of a JSON document that is not camelCase.
func badKeys(t *testing.T, doc string) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, doc)
	}
	var bad []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if !camelKey.MatchString(k) {
					bad = append(bad, k)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return bad
}

// explain, list, runtime, deploy and version all write camelCase keys under --output json.
func TestClientJSONKeysAreCamelCase(t *testing.T) {
	e := newCLIEnv(t)
	e.deployAll()
	e.must("deploy-app", "cli-app", "cli-ap", "--timeout", "0")
	e.history.RecordDecision(model.Decision{ID: "d1", Time: time.Now().Add(-time.Minute), ClusterID: "cli-cluster",
		ClusterInstanceID: "cli-cluster-1", NetworkPartitionID: "cli-np", Policy: "cli-asp", Mode: "enforce",
		Action: "scale-up", Active: 1, NonTerminated: 1, Required: 2, Delta: 1, Reason: "load",
		Trace: json.RawMessage(`{"trigger":"tick","mode":"enforce","members":{"active":1}}`)})
	for _, args := range [][]string{
		{"explain", "cli-cluster", "--output", "json"},
		{"list", "applications", "--output", "json"},
		{"list", "cartridges", "--output", "json"},
		{"runtime", "cli-app", "--output", "json"},
		{"deploy", "cartridge-groups", cliFile("cartridge.json"), "--output", "json"},
		{"version", "--output", "json"},
	} {
		out, errs, _ := e.strata(args...)
		doc := out
		if doc == "" {
			doc = errs
		}
		if bad := badKeys(t, doc); len(bad) > 0 {
			t.Errorf("strata %s: keys %v are not camelCase: %s", strings.Join(args, " "), bad, doc)
		}
	}
	var ds []map[string]any
	if out := e.must("explain", "cli-cluster", "--output", "json"); json.Unmarshal([]byte(out), &ds) != nil || len(ds) != 1 || ds[0]["clusterId"] != "cli-cluster" {
		t.Errorf("explain --output json: %s", out)
	}
}

// A command that finds nothing exits non-zero: explain of an unknown cluster or of one without
// decisions, runtime of an unknown application, list of a name that does not exist.
func TestClientNothingMatchedExitsNonZero(t *testing.T) {
	e := newCLIEnv(t)
	e.must("deploy", "cartridges", cliFile("cartridge.json"))
	for _, tc := range []struct {
		name string
		args []string
		has  string
	}{
		{name: "explain unknown cluster", args: []string{"explain", "no-such-cluster"}, has: "no cluster no-such-cluster"},
		{name: "runtime unknown application", args: []string{"runtime", "no-such-app"}, has: "404"},
		{name: "list unknown name", args: []string{"list", "cartridges", "no-such-type"}, has: "no cartridge named no-such-type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := e.strata(tc.args...)
			if code != 1 || !strings.Contains(errs, tc.has) {
				t.Errorf("exit %d, stderr %q: want 1 and %q", code, errs, tc.has)
			}
		})
	}
	if out := e.must("list", "cartridges", "cli-web"); !strings.Contains(out, "cli-web") {
		t.Errorf("list cartridges cli-web: %s", out)
	}
	// An empty collection is an answer, not a failure.
	e.must("list", "applications")
}

// --timeout is a flag of the commands that wait, not of list or explain.
func TestClientTimeoutOnlyWhereItWaits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cmd  string
		want bool
	}{{"list", false}, {"explain", false}, {"runtime", false}, {"deploy", false}, {"deploy-app", true}, {"undeploy", true}, {"subscribe", true}} {
		var out, errs bytes.Buffer
		run([]string{tc.cmd, "-h"}, &out, &errs)
		if got := strings.Contains(errs.String(), "-timeout"); got != tc.want {
			t.Errorf("strata %s -h shows -timeout: %v, want %v\n%s", tc.cmd, got, tc.want, errs.String())
		}
	}
}

// A binary built in a git checkout says which commit it is, and whether the tree was modified.
func TestVersionShowsCommit(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds a binary")
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skipf("git rev-parse: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err != nil || !fi.IsDir() {
		t.Skip("a git worktree: the go command stamps VCS information only where .git is a directory")
	}
	status, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output()
	if err != nil {
		t.Skipf("git status: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "strata")
	// -buildvcs=true overrides a GOFLAGS=-buildvcs=false of the environment: this is what
	// `go build` does by default in a checkout.
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version", "--output", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var v buildinfo.Version
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if v.Commit != strings.TrimSpace(string(head)) || v.Time == "" || v.Modified != (len(status) > 0) || v.Version == "(devel)" {
		t.Errorf("version %+v, want commit %s, modified %v", v, head, len(status) > 0)
	}
	if text, _ := exec.Command(bin, "version").Output(); !strings.Contains(string(text), strings.TrimSpace(string(head))) {
		t.Errorf("strata version: %s", text)
	}
}

// complete runs the bash completion function on a command line ending in the word to complete
// and returns the candidates.
func complete(t *testing.T, script string, words ...string) []string {
	t.Helper()
	var q []string
	for _, w := range words {
		q = append(q, "'"+w+"'")
	}
	prog := script + "\nCOMP_WORDS=(" + strings.Join(q, " ") + ")\nCOMP_CWORD=" + strconv.Itoa(len(words)-1) +
		"\n_strata\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c", prog)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

func TestCompletionBash(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	var out, errs bytes.Buffer
	if code := run([]string{"completion", "bash"}, &out, &errs); code != 0 {
		t.Fatalf("completion bash: %d %s", code, errs.String())
	}
	script := out.String()
	if b, err := exec.Command("bash", "-n", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n: %v\n%s", err, b)
	}
	has := func(got []string, want ...string) bool {
		for _, w := range want {
			found := false
			for _, g := range got {
				found = found || g == w
			}
			if !found {
				return false
			}
		}
		return true
	}
	for _, tc := range []struct {
		name  string
		words []string
		want  []string
		not   []string
	}{
		{name: "commands", words: []string{"strata", "de"}, want: []string{"deploy", "deploy-app", "demo-server"}},
		{name: "kinds of list", words: []string{"strata", "list", "car"}, want: []string{"cartridges", "cartridge", "cartridgeGroups", "cartridge-groups"}},
		{name: "kinds after a flag", words: []string{"strata", "deploy", "--update", "autoscalingP"}, want: []string{"autoscalingPolicies"}},
		{name: "kinds after a flag value", words: []string{"strata", "deploy", "--url", "http://x", "net"}, want: []string{"network-partitions", "networkPartitions"}},
		{name: "flags", words: []string{"strata", "list", "cartridges", "--o"}, want: []string{"--output"}},
		{name: "no timeout on list", words: []string{"strata", "list", "--t"}, not: []string{"--timeout"}},
		{name: "timeout on deploy-app", words: []string{"strata", "deploy-app", "--t"}, want: []string{"--timeout"}},
		{name: "output values", words: []string{"strata", "list", "cartridges", "--output", ""}, want: []string{"table", "json", "yaml"}},
		{name: "up flags", words: []string{"strata", "up", "--pol"}, want: []string{"--policies"}},
		{name: "policy", words: []string{"strata", "policy", ""}, want: []string{"check", "test", "replay"}},
		{name: "shells", words: []string{"strata", "completion", ""}, want: []string{"bash", "zsh"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := complete(t, script, tc.words...)
			if !has(got, tc.want...) {
				t.Errorf("completing %q: %v, want %v among them", tc.words, got, tc.want)
			}
			for _, n := range tc.not {
				if has(got, n) {
					t.Errorf("completing %q: %v has %s", tc.words, got, n)
				}
			}
		})
	}

	out.Reset()
	if code := run([]string{"completion", "zsh"}, &out, &errs); code != 0 || !strings.HasPrefix(out.String(), "#compdef strata\n") {
		t.Fatalf("completion zsh: %d %s", code, out.String())
	}
	if zsh, err := exec.LookPath("zsh"); err == nil {
		if b, err := exec.Command(zsh, "-n", "-c", out.String()).CombinedOutput(); err != nil {
			t.Errorf("zsh -n: %v\n%s", err, b)
		}
	}
}

// Ctrl-C in a terminal signals the whole foreground process group (under `go run`, go run and
// strata both get it): strata up says it is shutting down, says when it has stopped, and exits 0.
func TestUpLogsShutdownOnCtrlC(t *testing.T) {
	t.Parallel()
	a, args := upArgs(t)
	p := startGroup(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, args...)
	p.waitHTTP(t, "http://"+a.api+"/healthz")
	if err := syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := p.exitCode(t, 10*time.Second); code != 0 {
		t.Errorf("exit status after Ctrl-C = %d, want 0", code)
	}
	out := p.out.String()
	if !regexp.MustCompile(`msg="shutting down[^"]*" signal=interrupt`).MatchString(out) ||
		!regexp.MustCompile(`msg="strata stopped" signal=interrupt shutdown=\S+`).MatchString(out) {
		t.Errorf("no shutdown lines in the log:\n%s", out)
	}
}

// strata up takes only flags: a stray word is refused instead of silently ending the flags.
func TestUpRefusesStrayArgument(t *testing.T) {
	t.Parallel()
	var out, errs bytes.Buffer
	if code := run([]string{"up", "--data-dir", t.TempDir(), "stray", "--api", "127.0.0.1:1"}, &out, &errs); code != 2 || !strings.Contains(errs.String(), `unexpected argument "stray"`) {
		t.Errorf("exit %d: %s%s", code, out.String(), errs.String())
	}
}

// strata up --mock-health loads the mock IaaS's health patterns; a bad file stops the start with
// every problem, where it is, and the flag's name.
func TestUpMockHealthFileErrors(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "mock-iaas.xml")
	if err := os.WriteFile(bad, []byte(`<mock-iaas><health-statistics><cartridge type="php">
<pattern factor="cpu" mode="loop"><sampleValues>1</sampleValues><sampleDuration>1</sampleDuration></pattern>
</cartridge></health-statistics></mock-iaas>`), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	code := run([]string{"up", "--data-dir", t.TempDir(), "--api", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0",
		"--thrift", "127.0.0.1:0", "--thrift-tls", "127.0.0.1:0", "--lb=false", "--mock-health", bad}, &out, &errs)
	if want := "--mock-health: mock: health patterns: " + bad + `:2:1: unknown factor "cpu"`; code != 1 || !strings.Contains(errs.String(), want) {
		t.Errorf("exit %d, stderr %q; want 1 and %q", code, errs.String(), want)
	}
}
