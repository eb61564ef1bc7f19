package main

// Acceptance tests of the member lifecycle on real processes: `strata up` with the local driver,
// every member a race-built `strata agent` plus `strata demo-server --root` serving the files the
// agent checked out of a private git repository (basic auth, served by git http-backend from this
// process). Everything is driven through the REST API as a user would, and watched on the bus,
// through the load balancer, in the members' directories and in /proc.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/demo"
	"github.com/strata-paas/strata/internal/model"
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
// partition (provider local), the policies and the php-style cartridge.
func startLocal(t *testing.T) *localEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("real processes: skipped with -short")
	}
	e := &localEnv{t: t, repo: testenv.GitServer(t, "site", map[string]string{"index.html": "v1\n"})}
	a, args := upArgs(t)
	e.api, e.mqtt, e.dataDir = "http://"+a.api, a.mqtt, args[2]
	e.args = append(args, "--monitor-interval", "1s", "--cep-window", "4s", "--topology-sync", "5s")
	e.env = []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}
	e.proc = start(t, e.env, e.args...)
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
		killMembers(e.dataDir)
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
	for _, p := range posts {
		if code, body, _ := call(t, http.MethodPost, e.api+"/api"+p.path, jsonText(t, p.body)); code != http.StatusCreated {
			t.Fatalf("POST %s = %d %s", p.path, code, body)
		}
	}
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

// restart stops `strata up` with SIGTERM and starts it again on the same data dir and ports.
func (e *localEnv) restart() {
	t := e.t
	t.Helper()
	if err := e.proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := e.proc.exitCode(t, 30*time.Second); code != 0 {
		t.Fatalf("strata up exited with %d after SIGTERM:\n%s", code, e.proc.out.String())
	}
	e.proc = start(t, e.env, e.args...)
	e.proc.waitHTTP(t, e.api+"/healthz")
}

// busEvent is one lifecycle event of a member as the test saw it on the bus.
type busEvent struct {
	name string // the topic's last segment, e.g. MemberTerminatedEvent
	at   time.Time
}

// busLog records the events of every member on topology/# and instance/#, in arrival order.
type busLog struct {
	mu     sync.Mutex
	member map[string][]busEvent
}

func watchBus(t *testing.T, mqtt string) *busLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &busLog{member: map[string][]busEvent{}}
	c, err := bus.New(bus.Options{URLs: []string{"tcp://" + mqtt}, ClientID: "local-test-watch"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	handler := func(topic string, payload []byte) {
		var m struct {
			MemberID string `json:"memberId"`
		}
		if json.Unmarshal(payload, &m) != nil || m.MemberID == "" {
			return
		}
		now := time.Now()
		l.mu.Lock()
		l.member[m.MemberID] = append(l.member[m.MemberID], busEvent{topic[strings.LastIndexByte(topic, '/')+1:], now})
		l.mu.Unlock()
	}
	for _, f := range []string{"topology/#", "instance/#"} {
		if err := c.Subscribe(ctx, f, handler); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// first is when the member's first event of that name arrived (zero: not yet).
func (l *busLog) first(member, name string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.member[member] {
		if e.name == name {
			return e.at
		}
	}
	return time.Time{}
}

// sequence is the member's events in arrival order, each name once (its first arrival).
func (l *busLog) sequence(member string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.member[member] {
		if !slices.Contains(out, e.name) {
			out = append(out, e.name)
		}
	}
	return out
}

// runtimeMembers maps member id to status from an application's runtime view.
func runtimeMembers(t *testing.T, api, app string) map[string]string {
	t.Helper()
	code, body, _ := call(t, http.MethodGet, api+"/api/applications/"+app+"/runtime", "")
	out := map[string]string{}
	if code != http.StatusOK {
		return out
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if id, ok := v["memberId"].(string); ok {
				s, _ := v["status"].(string)
				out[id] = s
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	var doc any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("runtime view is not JSON: %v: %s", err, body)
	}
	walk(doc)
	return out
}

func activeMembers(ms map[string]string) []string {
	var out []string
	for id, s := range ms {
		if s == string(model.MemberActive) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// memberRecord is the local driver's member.json.
type memberRecord struct {
	MemberID  string `json:"memberId"`
	Pgid      int    `json:"pgid"`
	Processes []struct {
		Role string `json:"role"`
		Pid  int    `json:"pid"`
	} `json:"processes"`
}

// memberRecords reads the member.json of every member directory of the local driver.
func memberRecords(dataDir string) map[string]memberRecord {
	out := map[string]memberRecord{}
	paths, _ := filepath.Glob(filepath.Join(dataDir, "members", "*", "member.json"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var r memberRecord
		if json.Unmarshal(b, &r) == nil && r.MemberID != "" {
			out[r.MemberID] = r
		}
	}
	return out
}

func (r memberRecord) alive() bool {
	if len(r.Processes) == 0 {
		return false
	}
	for _, p := range r.Processes {
		if !pidAlive(p.Pid) {
			return false
		}
	}
	return true
}

// pidAlive reports whether the process runs and is not a zombie.
func pidAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// dumpMemberLogs logs the end of every member's agent and server log, and where each agent
// still running was stuck (SIGQUIT: its goroutines): a failed test shows what the agents did,
// not only what `strata up` did. The logs are opened first: the driver removes the directory of
// a member whose agent ended.
func dumpMemberLogs(t *testing.T, dataDir string) {
	t.Helper()
	type logFile struct {
		member, name string
		f            *os.File
	}
	var files []logFile
	var agents []int
	for id, r := range memberRecords(dataDir) {
		for _, name := range []string{"agent.log", "server.log"} {
			if f, err := os.Open(filepath.Join(memberDir(dataDir, id), name)); err == nil {
				files = append(files, logFile{id, name, f})
			}
		}
		for _, p := range r.Processes {
			if p.Role == "agent" && syscall.Kill(p.Pid, syscall.SIGQUIT) == nil {
				agents = append(agents, p.Pid)
			}
		}
	}
	// The runtime writes the dump, then the process exits.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && slices.ContainsFunc(agents, pidAlive) {
		time.Sleep(50 * time.Millisecond)
	}
	for _, lf := range files {
		b, _ := io.ReadAll(lf.f)
		lf.f.Close()
		logs, stacks := splitGoroutineDump(string(b))
		if len(logs) > 8<<10 {
			logs = logs[len(logs)-8<<10:]
		}
		t.Logf("%s of %s:\n%s", lf.name, lf.member, logs)
		if stacks != "" {
			t.Logf("goroutines of the agent of %s:\n%s", lf.member, stacks)
		}
	}
}

func killMembers(dataDir string) {
	for _, r := range memberRecords(dataDir) {
		if r.Pgid > 1 {
			_ = syscall.Kill(-r.Pgid, syscall.SIGKILL)
		}
	}
}

// fetch GETs path through the load balancer and returns the status, body and serving member.
func fetch(client *http.Client, url string) (int, string, string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get(demo.MemberHeader), err
}

// waitServed polls the load balancer until every member in want has served body for path.
func waitServed(t *testing.T, lb, path, body string, want []string, within time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	seen := map[string]bool{}
	deadline := time.Now().Add(within)
	for {
		code, got, member, err := fetch(client, lb+path)
		if err == nil && code == http.StatusOK && got == body {
			seen[member] = true
		}
		if !slices.ContainsFunc(want, func(m string) bool { return !seen[m] }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members %v did not all serve %q for %s through the LB within %v (served by %v; last answer %d %q from %q, %v)",
				want, body, path, within, seen, code, got, member, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// load sends GET requests through the load balancer at a steady rate and counts failures.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	lastStart  map[string]time.Time // member -> start of the last request it served
	errs       []string
}

func startLoad(ctx context.Context, url string, perSecond int) (*load, func()) {
	l := &load{lastStart: map[string]time.Time{}}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second / time.Duration(perSecond))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			wg.Go(func() {
				t0 := time.Now()
				code, body, member, err := fetch(client, url)
				l.mu.Lock()
				defer l.mu.Unlock()
				if err != nil || code != http.StatusOK || body == "" {
					l.failed.Add(1)
					if len(l.errs) < 10 {
						l.errs = append(l.errs, fmt.Sprintf("%s: %d %q %v", t0.Format("15:04:05.000"), code, body, err))
					}
					return
				}
				l.ok.Add(1)
				if t0.After(l.lastStart[member]) {
					l.lastStart[member] = t0
				}
			})
		}
	})
	return l, func() { cancel(); wg.Wait() }
}

// TestLocalMemberLifecycle is the member lifecycle on real processes, through the REST API:
// an application of the php-style cartridge with min 2 and a private repository goes Active
// with two members that serve the repository through the LB and publish health; a push and
// /repo/notify reach both; kill -9 of one member is published and replaced; lowering
// partitionMax terminates one member gracefully (§4.9) under 100 req/s without a failed
// request; and a restarted `strata up` adopts the survivor.
func TestLocalMemberLifecycle(t *testing.T) {
	t0 := time.Now()
	e := startLocal(t)
	api := e.api
	phase := func(name string, since time.Time) time.Time {
		t.Logf("%-40s %6.1fs (at %5.1fs)", name, time.Since(since).Seconds(), time.Since(t0).Seconds())
		return time.Now()
	}
	ph := phase("strata up and definitions", t0)

	const app = "php-app"
	application := map[string]any{"applicationId": app, "alias": app, "multiTenant": false,
		"components": map[string]any{"cartridges": []map[string]any{{
			"type": localCartridge, "cartridgeMin": 2, "cartridgeMax": 2,
			"subscribableInfo": map[string]any{"alias": "my-php", "autoscalingPolicy": localAutoscale, "deploymentPolicy": localDeploy,
				"artifactRepository": map[string]any{"privateRepo": true, "repoUrl": e.repo.URL, "repoUsername": e.repo.User, "repoPassword": e.repo.Password}},
		}}}}
	if code, body, _ := call(t, http.MethodPost, api+"/api/applications", jsonText(t, application)); code != http.StatusCreated {
		t.Fatalf("POST application = %d %s", code, body)
	}
	if code, body, _ := call(t, http.MethodPost, api+"/api/applications/"+app+"/deploy/"+localAppPolicy, ""); code != http.StatusAccepted {
		t.Fatalf("deploy = %d %s", code, body)
	}

	// 1. Two agents start, check out the repository and go Active.
	var members []string
	waitUntil(t, 120*time.Second, "two Active members", func() bool {
		members = activeMembers(runtimeMembers(t, api, app))
		return len(members) == 2
	})
	ph = phase("two members Active", ph)
	recs := memberRecords(e.dataDir)
	for _, m := range members {
		r, ok := recs[m]
		if !ok || len(r.Processes) != 2 || !r.alive() {
			t.Fatalf("member %s: processes %+v, want an agent and a server running", m, r)
		}
	}
	// A file of the repository, through the LB, from each member.
	waitServed(t, e.lb, "/", "v1\n", members, 30*time.Second)
	if code, body, _, err := fetch(http.DefaultClient, e.lb+"/.git/config"); err != nil || code != http.StatusNotFound {
		t.Errorf("GET /.git/config through the LB = %d %q %v, want 404", code, body, err)
	}
	ph = phase("repository served through the LB", ph)

	// Both members' health reaches the CEP (its raw samples are in the history).
	for _, m := range members {
		for _, metric := range []string{"memory_consumption", "load_average"} {
			waitUntil(t, 30*time.Second, "health of "+m+" in /api/history/health", func() bool {
				code, body, _ := call(t, http.MethodGet, api+"/api/history/health?from=10m&step=1s&metric="+metric+"&member="+m, "")
				return code == http.StatusOK && strings.HasPrefix(body, "[{")
			})
		}
	}
	ph = phase("health of both members in the history", ph)

	// A push plus the webhook reaches both members.
	e.repo.Push(map[string]string{"index.html": "v2\n", "new.txt": "new\n"})
	if code, body, _ := call(t, http.MethodPost, api+"/api/repo/notify", jsonText(t, map[string]any{"repository": map[string]string{"url": e.repo.URL}})); code != http.StatusNoContent {
		t.Fatalf("POST /repo/notify = %d %s", code, body)
	}
	waitServed(t, e.lb, "/", "v2\n", members, 30*time.Second)
	waitServed(t, e.lb, "/new.txt", "new\n", members, 10*time.Second)
	ph = phase("push + /repo/notify reached both", ph)

	// 2. kill -9 of one member's processes is published, and the min check replaces it.
	killed := members[0]
	survivor := members[1]
	if err := syscall.Kill(-recs[killed].Pgid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	waitUntil(t, 30*time.Second, "MemberTerminatedEvent for the killed member", func() bool {
		return !e.events.first(killed, "MemberTerminatedEvent").IsZero()
	})
	t.Logf("kill -9 published as MemberTerminatedEvent after %v", e.events.first(killed, "MemberTerminatedEvent").Sub(killedAt).Round(time.Millisecond))
	var replacement string
	waitUntil(t, 120*time.Second, "a replacement member Active", func() bool {
		act := activeMembers(runtimeMembers(t, api, app))
		if len(act) != 2 || slices.Contains(act, killed) {
			return false
		}
		for _, m := range act {
			if m != survivor {
				replacement = m
			}
		}
		return true
	})
	// The replacement checked out the repository as it is now.
	waitServed(t, e.lb, "/", "v2\n", []string{survivor, replacement}, 30*time.Second)
	ph = phase("kill -9 published, replacement Active", ph)

	// 3. Graceful termination under 100 req/s: partitionMax 2 -> 1 makes the autoscaler's max
	// check terminate one member.
	recs = memberRecords(e.dataDir)
	pids := map[string][]int{}
	for _, m := range []string{survivor, replacement} {
		for _, p := range recs[m].Processes {
			pids[m] = append(pids[m], p.Pid)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Poll the processes to know when each member's processes ended.
	var goneMu sync.Mutex
	gone := map[string]time.Time{}
	var pollWG sync.WaitGroup
	pollWG.Go(func() {
		for ctx.Err() == nil {
			for m, ps := range pids {
				goneMu.Lock()
				_, done := gone[m]
				goneMu.Unlock()
				if done {
					continue
				}
				for _, pid := range ps {
					if !pidAlive(pid) {
						goneMu.Lock()
						gone[m] = time.Now()
						goneMu.Unlock()
						break
					}
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	ld, stopLoad := startLoad(ctx, e.lb+"/", 100)
	waitUntil(t, 10*time.Second, "the load to flow", func() bool { return ld.ok.Load() >= 100 })
	loadFrom := time.Now()
	if code, body, _ := call(t, http.MethodPut, api+"/api/deploymentPolicies", jsonText(t, deploymentPolicy(1))); code != http.StatusOK {
		t.Fatalf("PUT deployment policy = %d %s", code, body)
	}
	var victim string
	waitUntil(t, 60*time.Second, "one member terminated gracefully", func() bool {
		for _, m := range []string{survivor, replacement} {
			if !e.events.first(m, "MemberTerminatedEvent").IsZero() {
				victim = m
				return true
			}
		}
		return false
	})
	// Keep the load on a little after the termination, then stop it.
	waitUntil(t, 10*time.Second, "more load after the termination", func() bool {
		return time.Since(e.events.first(victim, "MemberTerminatedEvent")) > time.Second
	})
	stopLoad()
	cancel()
	pollWG.Wait()
	if victim == survivor {
		survivor, replacement = replacement, survivor
	}
	ph = phase("graceful termination under load", ph)

	seq := e.events.sequence(victim)
	want := []string{"InstanceCleanupMemberEvent", "InstanceMaintenanceModeEvent", "MemberMaintenanceModeEvent",
		"InstanceReadyToShutdownEvent", "MemberReadyToShutdownEvent", "MemberTerminatedEvent"}
	var got []string
	for _, s := range seq {
		if slices.Contains(want, s) {
			got = append(got, s)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("graceful termination of %s on the bus: %v, want %v (all: %v)", victim, got, want, seq)
	}
	// clean.sh ran after the agent announced maintenance and finished before it was ready to
	// shut down.
	cleanStart, cleanEnd := cleanTimes(t, e.cleanLog, victim)
	if maint := e.events.first(victim, "InstanceMaintenanceModeEvent"); cleanStart.Before(maint) {
		t.Errorf("clean.sh started at %v, before InstanceMaintenanceModeEvent at %v", cleanStart, maint)
	}
	if ready := e.events.first(victim, "InstanceReadyToShutdownEvent"); !cleanEnd.Before(ready) {
		t.Errorf("clean.sh ended at %v, not before InstanceReadyToShutdownEvent at %v", cleanEnd, ready)
	}
	goneAt := gone[victim]
	terminatedAt := e.events.first(victim, "MemberTerminatedEvent")
	if ready := e.events.first(victim, "MemberReadyToShutdownEvent"); !goneAt.IsZero() && goneAt.Before(ready) {
		t.Errorf("the member's processes ended at %v, before MemberReadyToShutdownEvent at %v", goneAt, ready)
	}
	ld.mu.Lock()
	lastServed := ld.lastStart[victim]
	errs := ld.errs
	ld.mu.Unlock()
	switch {
	case goneAt.IsZero():
		t.Errorf("the terminated member's processes %v still run", pids[victim])
	case !lastServed.Before(goneAt):
		t.Errorf("the LB sent a request to %s at %v, after its process ended at %v", victim, lastServed, goneAt)
	case terminatedAt.Before(goneAt):
		t.Errorf("MemberTerminatedEvent at %v before the process ended at %v", terminatedAt, goneAt)
	}
	t.Logf("graceful: maintenance %v after the policy change; last request to the member %v after maintenance; process ended %v after that; MemberTerminated %v later",
		e.events.first(victim, "MemberMaintenanceModeEvent").Sub(loadFrom).Round(time.Millisecond),
		lastServed.Sub(e.events.first(victim, "MemberMaintenanceModeEvent")).Round(time.Millisecond),
		goneAt.Sub(lastServed).Round(time.Millisecond), terminatedAt.Sub(goneAt).Round(time.Millisecond))
	if n := ld.failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed during the graceful termination: %v", n, n+ld.ok.Load(), errs)
	}
	if rate := float64(ld.ok.Load()) / time.Since(loadFrom).Seconds(); rate < 80 {
		t.Errorf("load was %.0f req/s, want about 100", rate)
	}
	t.Logf("load: %d requests ok, %d failed", ld.ok.Load(), ld.failed.Load())
	if gs := gone[survivor]; !gs.IsZero() {
		t.Fatalf("the surviving member %s ended too at %v (terminated member %s at %v); events: %v; %v", survivor, gs,
			victim, goneAt, e.events.sequence(survivor), e.events.sequence(victim))
	}

	// 4. A restarted `strata up` adopts the survivor: same member, same processes, Active, no
	// member added.
	before := memberRecords(e.dataDir)[survivor]
	restartAt := time.Now()
	e.restart()
	ph = phase("strata up stopped and started again", ph)
	if !before.alive() {
		t.Fatalf("the survivor's processes %+v did not outlive strata up", before.Processes)
	}
	waitUntil(t, 60*time.Second, "an autoscaler decision on the adopted member after the restart", func() bool {
		code, body, _ := call(t, http.MethodGet, api+"/api/history/decisions?from="+restartAt.UTC().Format(time.RFC3339), "")
		if code != http.StatusOK {
			return false
		}
		var ds []model.Decision
		if err := json.Unmarshal([]byte(body), &ds); err != nil {
			t.Fatalf("decisions: %v: %s", err, body)
		}
		for _, d := range ds {
			if d.Delta > 0 {
				t.Fatalf("after the restart the autoscaler started %d member(s): %+v", d.Delta, d)
			}
		}
		return slices.ContainsFunc(ds, func(d model.Decision) bool { return d.Active == 1 && d.NonTerminated == 1 })
	})
	ph = phase("autoscaler decided with the survivor", ph)
	ms := runtimeMembers(t, api, app)
	if len(ms) != 1 || ms[survivor] != string(model.MemberActive) {
		t.Errorf("members after the restart: %v, want only %s Active", ms, survivor)
	}
	after := memberRecords(e.dataDir)
	if len(after) != 1 || !slices.Equal(pidList(after[survivor]), pidList(before)) || !after[survivor].alive() {
		t.Errorf("member processes after the restart: %+v, want %+v still running", after, before)
	}
	waitServed(t, e.lb, "/", "v2\n", []string{survivor}, 30*time.Second)
	phase("restart adopted the survivor", ph)
	t.Logf("total %.1fs", time.Since(t0).Seconds())
}

// TestLocalSubscriptionPrivateRepo is the manager's single-call path on the local driver: a
// subscription with a private repository (the AES-GCM password form, agent "strata") goes Active
// with the code checked out in every member, and a push plus /repo/notify updates every member.
func TestLocalSubscriptionPrivateRepo(t *testing.T) {
	t0 := time.Now()
	e := startLocal(t)
	sub := map[string]any{"cartridgeType": localCartridge, "alias": "mysite", "autoscalingPolicy": localAutoscale,
		"deploymentPolicy": localDeploy, "repoUrl": e.repo.URL, "repoUsername": e.repo.User, "repoPassword": e.repo.Password,
		"privateRepo": true, "agent": "strata", "min": 2, "max": 2}
	if code, body, _ := call(t, http.MethodPost, e.api+"/api/subscriptions", jsonText(t, sub)); code != http.StatusCreated {
		t.Fatalf("POST /subscriptions = %d %s", code, body)
	}
	var view struct {
		ActiveMembers int    `json:"activeMembers"`
		ApplicationID string `json:"applicationId"`
	}
	waitUntil(t, 120*time.Second, "the subscription's two members Active", func() bool {
		code, body, _ := call(t, http.MethodGet, e.api+"/api/subscriptions/mysite", "")
		return code == http.StatusOK && json.Unmarshal([]byte(body), &view) == nil && view.ActiveMembers == 2
	})
	t.Logf("two members Active after %.1fs", time.Since(t0).Seconds())
	members := activeMembers(runtimeMembers(t, e.api, view.ApplicationID))
	if len(members) != 2 {
		t.Fatalf("runtime members %v, want 2 Active", members)
	}
	checkedOut := func(want string) func() bool {
		return func() bool {
			recs := memberRecords(e.dataDir)
			for _, m := range members {
				dir := filepath.Join(memberDir(e.dataDir, m), "app")
				b, err := os.ReadFile(filepath.Join(dir, "index.html"))
				if _, ok := recs[m]; !ok || err != nil || string(b) != want {
					return false
				}
			}
			return true
		}
	}
	// Active means checked out: the files are there the moment the members are Active.
	if !checkedOut("v1\n")() {
		t.Fatalf("an Active member has not checked the repository out")
	}
	waitServed(t, e.lb, "/", "v1\n", members, 30*time.Second)

	e.repo.Push(map[string]string{"index.html": "v2\n"})
	if code, body, _ := call(t, http.MethodPost, e.api+"/api/repo/notify", jsonText(t, map[string]any{"repository": map[string]string{"url": e.repo.URL}})); code != http.StatusNoContent {
		t.Fatalf("POST /repo/notify = %d %s", code, body)
	}
	waitUntil(t, 30*time.Second, "every member to check out the push", checkedOut("v2\n"))
	waitServed(t, e.lb, "/", "v2\n", members, 10*time.Second)
	t.Logf("push + /repo/notify reached both; total %.1fs", time.Since(t0).Seconds())
}

// memberDir is the local driver's directory of a member (by its member.json).
func memberDir(dataDir, memberID string) string {
	paths, _ := filepath.Glob(filepath.Join(dataDir, "members", "*", "member.json"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		var r memberRecord
		if err == nil && json.Unmarshal(b, &r) == nil && r.MemberID == memberID {
			return filepath.Dir(p)
		}
	}
	return ""
}

func pidList(r memberRecord) []int {
	var out []int
	for _, p := range r.Processes {
		out = append(out, p.Pid)
	}
	return out
}

// cleanTimes reads when clean.sh started and ended for a member.
func cleanTimes(t *testing.T, path, member string) (start, end time.Time) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("clean.sh did not run: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var ns int64
		var what, id string
		if _, err := fmt.Sscanf(line, "%d %s %s", &ns, &what, &id); err != nil || id != member {
			continue
		}
		switch what {
		case "start":
			start = time.Unix(0, ns)
		case "end":
			end = time.Unix(0, ns)
		}
	}
	if start.IsZero() || end.IsZero() {
		t.Fatalf("clean.sh did not run for %s:\n%s", member, b)
	}
	return start, end
}

// post is one definition to POST under /api.
type post struct {
	path string
	body any
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
