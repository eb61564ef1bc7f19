package bus

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/strata-paas/strata/internal/testenv"
)

// TestMosquittoACL runs the Mosquitto password and ACL files of docs/operations.md ("Running with
// Mosquitto"; the ACL is testdata/mosquitto/strata.acl): anonymous clients are refused, the
// agent account publishes instance status but not topology, and receives what an agent reads but
// not cluster status; the platform's account does everything.
func TestMosquittoACL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	passwd := filepath.Join(dir, "strata.passwd")
	bin := testenv.Program(t, "mosquitto_passwd") // skipped on a developer machine without it, fails in CI
	for i, a := range [][2]string{{"strata", "platform-secret"}, {"agent", "agent-secret"}} {
		args := []string{"-b", passwd, a[0], a[1]}
		if i == 0 {
			args = append([]string{"-c"}, args...)
		}
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("mosquitto_passwd: %v %s", err, out)
		}
	}
	// Mosquitto started as root reads these files as its own user after dropping privileges.
	b, err := os.ReadFile(filepath.Join("testdata", "mosquitto", "strata.acl"))
	if err != nil {
		t.Fatal(err)
	}
	acl := filepath.Join(dir, "strata.acl")
	if err := os.WriteFile(acl, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Dir(dir), dir, passwd} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	m := testenv.StartMosquittoWith(t, "allow_anonymous false\npassword_file "+passwd+"\nacl_file "+acl+"\n")

	if _, err := mqttClient(t, m.URL(), "anon", "", "", nil); err == nil {
		t.Error("Mosquitto accepted an anonymous client")
	}
	platform := runClient(t, Options{URLs: []string{m.URL()}, ClientID: "strata-up", Username: "strata", Password: "platform-secret"})
	platform.waitFor(t, Connected)
	h, got := collector(16)
	if err := platform.Subscribe(ctxT(t), "#", h); err != nil {
		t.Fatal(err)
	}
	agent, err := mqttClient(t, m.URL(), "agent-1", "agent", "agent-secret", nil)
	if err != nil {
		t.Fatalf("agent refused: %v", err)
	}
	agentGot := make(chan string, 16)
	for _, f := range []string{"topology/#", "cluster/status/#", "strata/topology/cluster/c"} {
		tok := agent.Subscribe(f, 1, func(_ mqtt.Client, msg mqtt.Message) { agentGot <- msg.Topic() })
		if !tok.WaitTimeout(wait) {
			t.Fatalf("subscribe %s: no SUBACK", f)
		}
	}
	publishQoS1(t, agent, "topology/MemberTerminatedEvent", []byte(`{"memberId":"m"}`))
	publishQoS1(t, agent, "instance/status/InstanceStartedEvent", []byte(`{"memberId":"m","clusterId":"c"}`))
	// One client's messages are handled in order: had the topology publication gone through, it
	// would have arrived first.
	select {
	case r := <-got:
		if r.topic != "instance/status/InstanceStartedEvent" {
			t.Errorf("the platform received %s first, want only the agent's instance status", r.topic)
		}
	case <-time.After(wait):
		t.Fatal("the agent's instance status did not arrive")
	}
	ctx := ctxT(t)
	if err := platform.Publish(ctx, "cluster/status/ClusterStatusClusterResetEvent", []byte(`{}`), 1); err != nil {
		t.Fatal(err)
	}
	if err := platform.Publish(ctx, "topology/CompleteTopologyEvent", []byte(`{}`), 1); err != nil {
		t.Fatal(err)
	}
	select {
	case topic := <-agentGot:
		if topic != "topology/CompleteTopologyEvent" {
			t.Errorf("the agent received %s first, want only topology", topic)
		}
	case <-time.After(wait):
		t.Fatal("the agent did not receive the topology")
	}
	// Strata's cluster part of the topology: the agent asks for it and reads the answer.
	publishQoS1(t, agent, "strata/initializer/ClusterTopologyRequestEvent", []byte(`{"clusterId":"c"}`))
	for asked := false; !asked; { // the platform hears its own publications too
		select {
		case r := <-got:
			asked = r.topic == "strata/initializer/ClusterTopologyRequestEvent"
		case <-time.After(wait):
			t.Fatal("the agent's cluster topology request did not arrive")
		}
	}
	if err := platform.Publish(ctx, "strata/topology/cluster/c", []byte(`{}`), 1); err != nil {
		t.Fatal(err)
	}
	select {
	case topic := <-agentGot:
		if topic != "strata/topology/cluster/c" {
			t.Errorf("the agent received %s, want its cluster's part of the topology", topic)
		}
	case <-time.After(wait):
		t.Fatal("the agent did not receive its cluster's part of the topology")
	}
}
