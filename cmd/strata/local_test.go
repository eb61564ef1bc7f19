package main

// Acceptance tests of the member lifecycle on real processes: `strata up` with the local driver,
// every member a race-built `strata agent` plus `strata demo-server --root` serving the files the
// agent checked out of a private git repository (basic auth, served by git http-backend from this
// process). Everything is driven through the REST API as a user would, and watched on the bus,
// through the load balancer, in the members' directories and in /proc.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/testenv"
)

// localEnv is a running `strata up` with the local cartridge's definitions posted.
type localEnv struct {
	t        *testing.T
	api      string // http://host:port
	mqtt     string
	lb       string // http://127.0.0.1:<proxyPort>
	dataDir  string
	args     []string
	env      []string
	proc     *proc
	start    func(t *testing.T, env []string, args ...string) *proc // start or startUp
	repo     *testenv.GitRepo
	events   *busLog
	cleanLog string // clean.sh appends "<unix nanos> start|end <member id>" here
}

const (
	localNP        = "np-local"
	localPartition = "p1"
	localAutoscale = "as-local"
	localDeploy    = "dep-local"
	localAppPolicy = "app-policy-local"
	localCartridge = "php"
)

// startLocal starts `strata up` with short timings, a bus watcher, and posts the network
// partition (provider local), the policies and the php-style cartridge. The platform runs in this
// process (startUp), or as the strata binary with binary, for a test that restarts it and checks
// that members outlive its process.
func startLocal(t *testing.T, binary bool) *localEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("real processes: skipped with -short")
	}
	e := &localEnv{t: t, repo: testenv.GitServer(t, "site", map[string]string{"index.html": "v1\n"})}
	a, args := upArgs(t)
	e.api, e.mqtt, e.dataDir = "http://"+a.api, a.mqtt, args[2]
	e.args = append(args, "--monitor-interval", "1s", "--cep-window", "4s", "--topology-sync", "5s")
	e.env = []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}
	e.start = startUp
	if binary {
		e.start = start
	}
	e.proc = e.start(t, e.env, e.args...)
	// Members run in their own process groups and outlive `strata up` (that is what adoption is
	// for): stop them when the test ends. Cleanups run last-registered first, so this runs
	// before start's cleanup kills `strata up`.
	t.Cleanup(func() {
		if t.Failed() {
			if e.events != nil {
				for m := range memberRecords(e.dataDir) {
					t.Logf("bus events of %s: %v", m, e.events.sequence(m))
				}
			}
			dumpMemberLogs(t, e.dataDir)
		}
		if binary {
			killMembers(e.dataDir)
		} else {
			// No replacement may start while the members are killed.
			e.proc.stop()
			e.proc.done <- <-e.proc.done
			killMembersInProcess(e.dataDir)
		}
	})
	e.proc.waitHTTP(t, e.api+"/healthz")
	e.events = watchBus(t, e.mqtt)

	// clean.sh records when it runs, so the test can place it between maintenance and ready to
	// shut down.
	ext := t.TempDir()
	e.cleanLog = filepath.Join(ext, "clean.log")
	clean := "#!/bin/bash\necho \"$(date +%s%N) start $STRATOS_MEMBER_ID\" >> " + e.cleanLog +
		"\nsleep 0.5\necho \"$(date +%s%N) end $STRATOS_MEMBER_ID\" >> " + e.cleanLog + "\n"
	if err := os.WriteFile(filepath.Join(ext, "clean.sh"), []byte(clean), 0o755); err != nil {
		t.Fatal(err)
	}

	port, proxyPort := testenv.FreePort(t), testenv.FreePort(t)
	e.lb = fmt.Sprintf("http://127.0.0.1:%d", proxyPort)
	command := fmt.Sprintf(`exec %q demo-server --listen "$STRATA_MEMBER_IP:$PORTS" --burn 0s --root "$APPLICATION_PATH"`, strataBin)
	cartridge := map[string]any{
		"type": localCartridge, "provider": "apache", "category": "framework", "host": "php.strata.local",
		"displayName": "php", "description": "php-style cartridge: strata demo-server serving the checked-out artifacts",
		"version": "7", "multiTenant": "false",
		"portMapping": []map[string]any{{"name": "http-80", "protocol": "http", "port": port, "proxyPort": proxyPort}},
		// Agent timings reach the agents as payload parameters, as on any IaaS: health every
		// second, ports checked every second, and no periodic checkout, so an update can only come
		// from an ArtifactUpdatedEvent.
		"property": []map[string]string{
			{"name": "payload_parameter.stats.notifier.interval", "value": "1"},
			{"name": "payload_parameter.port.check.interval", "value": "1"},
			{"name": "payload_parameter.artifact.clone.interval", "value": "1"},
			{"name": "payload_parameter.auto.checkout", "value": "false"},
		},
		"iaasProvider": []map[string]any{{"type": "local", "property": []map[string]string{
			{"name": "command", "value": command},
			{"name": "extensions", "value": ext},
		}}},
	}
	posts := append(localPolicies(), post{"/cartridges", cartridge})
	postAll(t, e.api, posts)
	return e
}

func deploymentPolicy(partitionMax int) map[string]any {
	return map[string]any{"id": localDeploy, "networkPartitions": []map[string]any{{
		"id": localNP, "partitionAlgo": "one-after-another",
		"partitions": []map[string]any{{"id": localPartition, "partitionMax": partitionMax}},
	}}}
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// restart stops `strata up` with SIGTERM and starts it again the same way, on the same data dir and ports.
func (e *localEnv) restart() {
	t := e.t
	t.Helper()
	e.proc.signal(t, syscall.SIGTERM)
	if code := e.proc.exitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("strata up exited with %d after SIGTERM:\n%s", code, e.proc.out.String())
	}
	e.proc = e.start(t, e.env, e.args...)
	e.proc.waitHTTP(t, e.api+"/healthz")
}

// post is one definition to POST under /api.
type post struct {
	path string
	body any
}

// postAll POSTs each definition to the REST API at api (host:port) as the admin; each must be
// created.
func postAll(t *testing.T, api string, posts []post) {
	t.Helper()
	for _, p := range posts {
		if code, body, _ := call(t, http.MethodPost, api+"/api"+p.path, jsonText(t, p.body)); code != http.StatusCreated {
			t.Fatalf("POST %s = %d %s", p.path, code, body)
		}
	}
}

// localPolicies are the local network partition and the policies the local-driver tests deploy
// with. High thresholds: the load of a test scales nothing; min = max keeps the count anyway.
func localPolicies() []post {
	return []post{
		{"/networkPartitions", map[string]any{"id": localNP, "provider": "local", "partitions": []map[string]any{{"id": localPartition}}}},
		{"/autoscalingPolicies", map[string]any{"id": localAutoscale, "loadThresholds": map[string]any{
			"requestsInFlight": map[string]any{"threshold": 1000}, "memoryConsumption": map[string]any{"threshold": 99},
			"loadAverage": map[string]any{"threshold": 1000}}}},
		{"/deploymentPolicies", deploymentPolicy(2)},
		{"/applicationPolicies", map[string]any{"id": localAppPolicy, "algorithm": "one-after-another", "networkPartitions": []string{localNP}}},
	}
}
