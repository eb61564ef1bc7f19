package agent

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// The server a StartServers extension leaves running in the background gets SIGTERM when the
// agent stops, and the agent returns only once it ended: on Kubernetes only the container's main
// process (the agent) is signalled, and the server would be killed without a chance to finish
// its requests.
func TestStopPassesSIGTERMToServers(t *testing.T) {
	brokerURL := startBroker(t)
	cc := newControllerSim(t, brokerURL)
	_, port := listen(t, 0)
	dir := t.TempDir()
	ext, out := filepath.Join(dir, "extensions"), filepath.Join(dir, "out")
	// The "server" ends a short while after SIGTERM, as a server that finishes its requests.
	writeFile(t, filepath.Join(ext, "StartServers.sh"), `#!/bin/bash
(
  trap 'sleep 0.3; echo stopped > "`+out+`/server"; exit 0' TERM
  echo $BASHPID > "`+out+`/server.pid"
  while :; do sleep 0.05; done
) >/dev/null 2>&1 </dev/null &
`, 0o755)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(out, "server.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	cfg := Config{
		ApplicationID: "app1", ServiceName: testService, ClusterID: testCluster, MemberID: testMember,
		ClusterInstanceID: "app1-1", TenantID: "-1234", Ports: []int{port}, ListenAddress: "127.0.0.1",
		BrokerURLs: []string{brokerURL}, BrokerUsername: memberUser, BrokerPassword: memberPassword, PortCheckInterval: 50 * time.Millisecond,
		TopologyRequestInterval: 100 * time.Millisecond, ExtensionsDir: ext, ServerStopTimeout: 10 * time.Second, Logger: testLogger(t),
	}
	stop := runAgent(t, cfg)
	next[*model.CompleteTopologyRequestEvent](cc, 20*time.Second)
	cc.publish(model.CompleteTopologyEvent{Topology: topologyWith(testService, testCluster, testMember, "", model.MemberInitialized)})
	next[*model.InstanceActivatedEvent](cc, 10*time.Second)
	eventually(t, 10*time.Second, "the server runs", func() bool {
		_, err := os.Stat(filepath.Join(out, "server.pid"))
		return err == nil
	})
	stop()
	if b, err := os.ReadFile(filepath.Join(out, "server")); err != nil || strings.TrimSpace(string(b)) != "stopped" {
		t.Errorf("the server after the agent stopped: %q, %v; want it to have handled SIGTERM", b, err)
	}
}
