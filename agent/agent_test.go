package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
)

const (
	testKey     = "abcdefghijklmnop" // a 16-character CARTRIDGE_KEY
	testService = "php"
	testCluster = "app1.php1.php.domain"
	testMember  = "app1.php1.php.domain0b7f7c3a-0000-4000-8000-000000000001"
)

// envScript records the STRATOS_* environment of an extension in <dir>/<name>.env.
const envScript = `#!/bin/bash
env | grep '^STRATOS_' > "$(dirname "$0")/../out/$(basename "$0" .sh).env"
`

// runAgent starts an agent and returns a stop function that waits for Run to return.
func runAgent(t *testing.T, cfg Config) (stop func()) {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestLifecycleHTTPRepository runs the whole §7.3-§7.5 lifecycle against a real broker, a real
// data-bridge server and a password-protected smart-HTTP git server: topology request,
// initialization, InstanceStarted, ArtifactUpdated with a Stratos-encrypted password, checkout,
// ports, InstanceActivated, health statistics, log lines, periodic update, cleanup. The broker and
// CEP URL lists start with a dead address, so failover is exercised too.
func TestLifecycleHTTPRepository(t *testing.T) {
	dir := t.TempDir()
	brokerURL := startBroker(t)
	cc := newControllerSim(t, brokerURL)
	cep, cepAddr := startCEP(t)
	_, work := bareRepo(t, filepath.Join(dir), "site", map[string]string{"index.php": "<?php echo 1;"})
	gitURL := gitHTTP(t, dir, "git", "s3cret") + "/site.git"
	_, port := listen(t, 0)

	appPath := filepath.Join(dir, "app")
	home := filepath.Join(dir, "agent")
	for _, ext := range []string{ExtInstanceStarted, ExtArtifactUpdated, ExtInstanceActivated, ExtCompleteTopology, ExtStartServers} {
		writeFile(t, filepath.Join(home, "extensions", ext+".sh"), envScript, 0o755)
	}
	writeFile(t, filepath.Join(home, "extensions", "clean.sh"), "#!/bin/bash\ntouch \"$(dirname \"$0\")/../out/cleaned\"\n", 0o755)
	os.MkdirAll(filepath.Join(home, "out"), 0o755)
	logFile := filepath.Join(dir, "server.log")
	writeFile(t, logFile, "old line, not published\n", 0o644)

	writeFile(t, filepath.Join(home, "agent.conf"), strings.Join([]string{
		"[agent]",
		"# fast timings for the test",
		"stats.notifier.interval = 0.1",
		"port.check.interval = 0.05",
		"artifact.update.interval = 0.2",
		"log.poll.interval = 0.05",
		"enable.artifact.update = true",
		"auto.checkout = true",
		"thrift.server.admin.username = admin",
		"thrift.server.admin.password = admin",
	}, "\n"), 0o644)
	payload := model.Payload{
		{Key: "APPLICATION_ID", Value: "app1"}, {Key: "SERVICE_NAME", Value: testService},
		{Key: "CLUSTER_ID", Value: testCluster}, {Key: "MEMBER_ID", Value: testMember},
		{Key: "CLUSTER_INSTANCE_ID", Value: "app1-1"}, {Key: "NETWORK_PARTITION_ID", Value: "np1"},
		{Key: "PARTITION_ID", Value: "p1"}, {Key: "CARTRIDGE_ALIAS", Value: "php1"},
		{Key: "PORTS", Value: fmt.Sprint(port)}, {Key: "MULTITENANT", Value: "false"},
		{Key: "TENANT_ID", Value: "-1234"}, {Key: "CARTRIDGE_KEY", Value: testKey},
		{Key: "REPO_URL", Value: gitURL}, {Key: "APPLICATION_PATH", Value: appPath},
		{Key: "MB_URLS", Value: deadAddr(t) + "|" + strings.TrimPrefix(brokerURL, "tcp://")},
		{Key: "MB_USERNAME", Value: memberUser}, {Key: "MB_PASSWORD", Value: memberPassword},
		{Key: "CEP_URLS", Value: deadAddr(t) + "|" + cepAddr},
		{Key: "LOG_FILE_PATHS", Value: logFile},
	}
	// Payload values cannot hold ',' (the launch-params separator), so the URL lists use '|'.
	var lp strings.Builder
	for i, p := range payload {
		if i > 0 {
			lp.WriteByte(',')
		}
		lp.WriteString(p.Key + "=" + p.Value)
	}
	writeFile(t, filepath.Join(home, "launch-params"), lp.String()+"\n", 0o644)
	cfg, err := LoadConfig(filepath.Join(home, "agent.conf"), filepath.Join(home, "launch-params"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.BrokerURLs) != 2 || len(cfg.CEPURLs) != 2 {
		t.Fatalf("url lists: %q %q", cfg.BrokerURLs, cfg.CEPURLs)
	}
	cfg.TopologyRequestInterval = 100 * time.Millisecond
	cfg.Logger = testLogger(t)
	if cfg.HealthInterval != 100*time.Millisecond || cfg.ExtensionsDir != filepath.Join(home, "extensions") {
		t.Fatalf("config: health %v, extensions %q", cfg.HealthInterval, cfg.ExtensionsDir)
	}
	stop := runAgent(t, cfg)

	// §7.3 steps 2-3: the topology request, answered with the member Initialized.
	next[*model.CompleteTopologyRequestEvent](cc, 20*time.Second)
	cc.publish(model.CompleteTopologyEvent{Topology: topologyWith(testService, testCluster, testMember, "127.0.0.1",
		model.MemberCreated, model.MemberInitialized)})

	// Steps 5-6.
	next[*model.CompleteTenantRequestEvent](cc, 10*time.Second)
	started := next[*model.InstanceStartedEvent](cc, 10*time.Second)
	if started.MemberID != testMember || started.ClusterID != testCluster || started.ApplicationID != "app1" ||
		started.ClusterInstanceID != "app1-1" || started.NetworkPartitionID != "np1" || started.PartitionID != "p1" {
		t.Errorf("InstanceStartedEvent = %+v", started)
	}
	env := readEnv(t, filepath.Join(home, "out", ExtInstanceStarted+".env"))
	for k, want := range map[string]string{
		"STRATOS_EVENT": ExtInstanceStarted, "STRATOS_MEMBER_ID": testMember, "STRATOS_APPLICATION_ID": "app1",
		"STRATOS_APPLICATION_PATH": appPath, "STRATOS_MB_IP": "127.0.0.1", "STRATOS_CLUSTER_PROPERTY_tier": "front",
		"STRATOS_MEMBER_PROPERTY_role": "web", "STRATOS_PORTS": fmt.Sprint(port),
	} {
		if env[k] != want {
			t.Errorf("extension env %s = %q, want %q", k, env[k], want)
		}
	}
	// The CompleteTopologyEvent extension runs on its own goroutine, as in the PCA.
	eventually(t, 5*time.Second, "CompleteTopologyEvent extension", func() bool {
		_, err := os.Stat(filepath.Join(home, "out", ExtCompleteTopology+".env"))
		return err == nil
	})

	// With a REPO_URL the agent waits for the artifacts before activating.
	expectNone[*model.InstanceActivatedEvent](cc, 300*time.Millisecond)
	enc, err := model.EncryptPasswordECB(testKey, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	cc.publish(model.ArtifactUpdatedEvent{ClusterID: "other.cluster", RepoURL: "http://127.0.0.1:1/nothing.git"})
	cc.publish(model.ArtifactUpdatedEvent{ClusterID: testCluster, Status: "created", RepoUserName: "git",
		RepoPassword: enc, RepoURL: gitURL, TenantID: "-1234"})
	activated := next[*model.InstanceActivatedEvent](cc, 20*time.Second)
	if activated.MemberID != testMember || activated.ClusterInstanceID != "app1-1" {
		t.Errorf("InstanceActivatedEvent = %+v", activated)
	}
	if b, err := os.ReadFile(filepath.Join(appPath, "index.php")); err != nil || string(b) != "<?php echo 1;" {
		t.Fatalf("checked out index.php = %q, %v", b, err)
	}
	env = readEnv(t, filepath.Join(home, "out", ExtArtifactUpdated+".env"))
	if env["STRATOS_ARTIFACT_UPDATED_REPO_PASSWORD"] != "s3cret" || env["STRATOS_ARTIFACT_UPDATED_REPO_URL"] != gitURL ||
		env["STRATOS_ARTIFACT_UPDATED_STATUS"] != "created" || env["STRATOS_ARTIFACT_UPDATED_TENANT_ID"] != "-1234" {
		t.Errorf("ArtifactUpdatedEvent extension env: %v", env)
	}
	eventually(t, 5*time.Second, "InstanceActivatedEvent extension", func() bool {
		_, err := os.Stat(filepath.Join(home, "out", ExtInstanceActivated+".env"))
		return err == nil
	})

	// Health statistics (§2.6), over TLS, after the dead CEP URL.
	cep.waitFor(t, 10*time.Second, "memory and load events", func(evs []databridge.Event) bool {
		var mem, load int
		for _, e := range evs {
			s, ok := e.HealthSample()
			if !ok || e.Stream.ID != model.HealthStreamID {
				continue
			}
			if s.MemberID != testMember || s.ClusterID != testCluster || s.ClusterInstanceID != "app1-1" ||
				s.NetworkPartitionID != "np1" || s.PartitionID != "p1" || s.Value < 0 || s.Timestamp == 0 {
				t.Errorf("bad health sample %+v", s)
				return true
			}
			switch s.Metric {
			case model.MetricMemoryConsumption:
				mem++
			case model.MetricLoadAverage:
				load++
			}
		}
		return mem >= 2 && load >= 2
	})

	// Log lines: only the lines written after the start, each as one event.
	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "GET /index.php 200")
	fmt.Fprintln(f, "GET /missing 404")
	f.Close()
	wantStream := databridge.LogStreamName("-1234", "php1", time.Now())
	cep.waitFor(t, 10*time.Second, "log lines", func(evs []databridge.Event) bool {
		var msgs []string
		for _, e := range evs {
			if le, ok := e.LogEntry(); ok {
				if le.Stream != wantStream || le.MemberID != testMember || le.TenantID != "0" {
					t.Errorf("bad log entry %+v (stream %s)", le, wantStream)
				}
				msgs = append(msgs, le.Message)
			}
		}
		if len(msgs) >= 2 {
			if msgs[0] != "GET /index.php 200" || msgs[1] != "GET /missing 404" || len(msgs) > 2 {
				t.Errorf("log messages %q", msgs)
			}
			return true
		}
		return false
	})

	// The periodic update brings a new commit.
	commitFiles(t, work, map[string]string{"v2.txt": "two"})
	gitCLI(t, work, "push", "-q", "origin", "master")
	eventually(t, 15*time.Second, "periodic artifact update", func() bool {
		b, err := os.ReadFile(filepath.Join(appPath, "v2.txt"))
		return err == nil && string(b) == "two"
	})

	// §7.5 cleanup: maintenance, clean.sh, ready to shutdown, once however often it is asked.
	cc.publish(model.InstanceCleanupMemberEvent{MemberID: "someone-else"})
	cc.publish(model.InstanceCleanupMemberEvent{MemberID: testMember})
	cc.publish(model.InstanceCleanupMemberEvent{MemberID: testMember})
	mm := next[*model.InstanceMaintenanceModeEvent](cc, 10*time.Second)
	if mm.MemberID != testMember {
		t.Errorf("maintenance event %+v", mm)
	}
	rts := next[*model.InstanceReadyToShutdownEvent](cc, 10*time.Second)
	if rts.MemberID != testMember || rts.ClusterID != testCluster {
		t.Errorf("ready-to-shutdown event %+v", rts)
	}
	if _, err := os.Stat(filepath.Join(home, "out", "cleaned")); err != nil {
		t.Errorf("clean.sh did not run before InstanceReadyToShutdownEvent: %v", err)
	}
	expectNone[*model.InstanceMaintenanceModeEvent](cc, 300*time.Millisecond)
	stop()
}

// TestLifecycleFileRepositoryGCM takes the other routes: initialization by MemberInitializedEvent
// after a topology that shows the member Created, a file:// repository whose password is in
// Strata's GCM form, and ports that open only after the checkout.
func TestLifecycleFileRepositoryGCM(t *testing.T) {
	dir := t.TempDir()
	brokerURL := startBroker(t)
	cc := newControllerSim(t, brokerURL)
	bare, _ := bareRepo(t, dir, "site", map[string]string{"app/main.txt": "hello"})
	portHolder, port := listen(t, 0)
	portHolder.Close() // the "server" is not up yet
	appPath := filepath.Join(dir, "app")

	cfg := Config{
		ApplicationID: "app1", ServiceName: testService, ClusterID: testCluster, MemberID: testMember,
		ClusterInstanceID: "app1-1", TenantID: "-1234", Ports: []int{port},
		RepoURL: "file://" + bare, CartridgeKey: testKey, ApplicationPath: appPath,
		BrokerURLs: []string{brokerURL}, BrokerUsername: memberUser, BrokerPassword: memberPassword, PortCheckInterval: 50 * time.Millisecond,
		TopologyRequestInterval: 100 * time.Millisecond, Logger: testLogger(t),
	}
	runAgent(t, cfg)
	next[*model.CompleteTopologyRequestEvent](cc, 20*time.Second)
	cc.publish(model.CompleteTopologyEvent{Topology: topologyWith(testService, testCluster, testMember, "127.0.0.1", model.MemberCreated)})
	expectNone[*model.InstanceStartedEvent](cc, 300*time.Millisecond)
	cc.publish(model.MemberInitializedEvent{ServiceName: testService, ClusterID: testCluster, MemberID: testMember,
		DefaultPrivateIP: "127.0.0.1", MemberPrivateIPs: []string{"127.0.0.1"}})
	next[*model.InstanceStartedEvent](cc, 10*time.Second)

	enc, err := model.EncryptPassword(testKey, "unused-for-file")
	if err != nil {
		t.Fatal(err)
	}
	cc.publish(model.ArtifactUpdatedEvent{ClusterID: testCluster, RepoPassword: enc, RepoURL: "file://" + bare, TenantID: "-1234"})
	eventually(t, 10*time.Second, "checkout", func() bool {
		b, err := os.ReadFile(filepath.Join(appPath, "app", "main.txt"))
		return err == nil && string(b) == "hello"
	})
	expectNone[*model.InstanceActivatedEvent](cc, 300*time.Millisecond)
	listen(t, port)
	next[*model.InstanceActivatedEvent](cc, 10*time.Second)
}

// TestCheckoutRetriedUntilItWorks: a member whose first checkout fails (here the repository does
// not exist yet) is not left unactivated for good; the update is tried again until it succeeds.
func TestCheckoutRetriedUntilItWorks(t *testing.T) {
	dir := t.TempDir()
	brokerURL := startBroker(t)
	cc := newControllerSim(t, brokerURL)
	_, port := listen(t, 0)
	appPath := filepath.Join(dir, "app")
	bare := filepath.Join(dir, "site.git") // created below, after the event
	cfg := Config{
		ApplicationID: "app1", ServiceName: testService, ClusterID: testCluster, MemberID: testMember,
		ClusterInstanceID: "app1-1", TenantID: "-1234", Ports: []int{port}, CartridgeKey: testKey,
		RepoURL: "file://" + bare, ApplicationPath: appPath, BrokerURLs: []string{brokerURL}, BrokerUsername: memberUser, BrokerPassword: memberPassword,
		PortCheckInterval: 50 * time.Millisecond, CloneRetries: 1, CloneInterval: 50 * time.Millisecond,
		TopologyRequestInterval: 100 * time.Millisecond, Logger: testLogger(t),
	}
	runAgent(t, cfg)
	next[*model.CompleteTopologyRequestEvent](cc, 20*time.Second)
	cc.publish(model.CompleteTopologyEvent{Topology: topologyWith(testService, testCluster, testMember, "127.0.0.1", model.MemberInitialized)})
	next[*model.InstanceStartedEvent](cc, 10*time.Second)
	cc.publish(model.ArtifactUpdatedEvent{ClusterID: testCluster, RepoURL: "file://" + bare, TenantID: "-1234"})
	// Several attempts fail (50, 100, 200, 400 ms apart) before the repository appears.
	expectNone[*model.InstanceActivatedEvent](cc, 800*time.Millisecond)
	// Built elsewhere and moved in at once: a retry must not find it empty, before the push.
	made, _ := bareRepo(t, t.TempDir(), "site", map[string]string{"index.html": "v1"})
	if err := os.Rename(made, bare); err != nil {
		t.Fatal(err)
	}
	next[*model.InstanceActivatedEvent](cc, 10*time.Second)
	if b, err := os.ReadFile(filepath.Join(appPath, "index.html")); err != nil || string(b) != "v1" {
		t.Errorf("checked out index.html = %q, %v", b, err)
	}
}

// TestLifecycleNoRepository activates a restarted agent's member once the ports answer, and cleans
// up on
// InstanceCleanupClusterEvent for its cluster instance only.
func TestLifecycleNoRepository(t *testing.T) {
	brokerURL := startBroker(t)
	cc := newControllerSim(t, brokerURL)
	_, port := listen(t, 0)
	cfg := Config{
		ApplicationID: "app1", ServiceName: testService, ClusterID: testCluster, MemberID: testMember,
		ClusterInstanceID: "app1-1", TenantID: "-1234", Ports: []int{port}, ListenAddress: "127.0.0.1",
		BrokerURLs: []string{brokerURL}, BrokerUsername: memberUser, BrokerPassword: memberPassword, PortCheckInterval: 50 * time.Millisecond,
		TopologyRequestInterval: 100 * time.Millisecond, Logger: testLogger(t),
	}
	runAgent(t, cfg)
	next[*model.CompleteTopologyRequestEvent](cc, 20*time.Second)
	// The member shows Active: this agent was restarted in a running member and announces itself again.
	cc.publish(model.CompleteTopologyEvent{Topology: topologyWith(testService, testCluster, testMember, "",
		model.MemberInitialized, model.MemberStarting, model.MemberActive)})
	next[*model.InstanceStartedEvent](cc, 10*time.Second)
	next[*model.InstanceActivatedEvent](cc, 10*time.Second)

	cc.publish(model.InstanceCleanupClusterEvent{ClusterID: testCluster, ClusterInstanceID: "app1-2"})
	expectNone[*model.InstanceMaintenanceModeEvent](cc, 300*time.Millisecond)
	cc.publish(model.InstanceCleanupClusterEvent{ClusterID: testCluster, ClusterInstanceID: "app1-1"})
	next[*model.InstanceMaintenanceModeEvent](cc, 10*time.Second)
	next[*model.InstanceReadyToShutdownEvent](cc, 10*time.Second)
}

// TestPortsNeverOpen: when the port check times out the member is never activated (§7.6).
func TestPortsNeverOpen(t *testing.T) {
	brokerURL := startBroker(t)
	cc := newControllerSim(t, brokerURL)
	l, port := listen(t, 0)
	l.Close()
	cfg := Config{
		ApplicationID: "app1", ServiceName: testService, ClusterID: testCluster, MemberID: testMember,
		TenantID: "-1234", Ports: []int{port}, ListenAddress: "127.0.0.1",
		BrokerURLs: []string{brokerURL}, BrokerUsername: memberUser, BrokerPassword: memberPassword, PortCheckInterval: 20 * time.Millisecond, PortCheckTimeout: 200 * time.Millisecond,
		TopologyRequestInterval: 100 * time.Millisecond, Logger: testLogger(t),
	}
	runAgent(t, cfg)
	next[*model.CompleteTopologyRequestEvent](cc, 20*time.Second)
	cc.publish(model.CompleteTopologyEvent{Topology: topologyWith(testService, testCluster, testMember, "", model.MemberInitialized)})
	next[*model.InstanceStartedEvent](cc, 10*time.Second)
	expectNone[*model.InstanceActivatedEvent](cc, 600*time.Millisecond)
}
