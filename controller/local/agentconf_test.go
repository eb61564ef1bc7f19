package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// TestAgentConf: agent.conf holds what a Stratos-style agent reads (§7.1) from the payload the
// controller built (the broker and CEP coordinates and the member's credentials, never invented)
// and the member's place on this host; Options.AgentConf replaces generated keys.
func TestAgentConf(t *testing.T) {
	full := model.Payload{
		{Key: model.PayloadMBURLs, Value: "127.0.0.1:1883"}, {Key: model.PayloadMBUsername, Value: "agent.m1"},
		{Key: model.PayloadMBPassword, Value: "pw1"}, {Key: model.PayloadCEPURLs, Value: "127.0.0.1:7711"},
		{Key: model.PayloadCEPAdminUsername, Value: "cep-user"}, {Key: model.PayloadCEPAdminPassword, Value: "cep-pw"},
		{Key: model.PayloadLogFilePaths, Value: "/m/server.log"},
	}
	for _, tc := range []struct {
		name    string
		payload model.Payload
		ext     string
		extra   string
		want    string
	}{
		{
			name: "everything from the payload", payload: full, ext: "/ext",
			want: `[agent]
mb.urls = 127.0.0.1:1883
mb.username = agent.m1
mb.password = pw1
thrift.receiver.urls = 127.0.0.1:7711
thrift.server.admin.username = cep-user
thrift.server.admin.password = cep-pw
cep.stats.publisher.enabled = true
listen.address = 127.0.0.5
APPLICATION_PATH = /m/app
log.file.paths = /m/server.log
param.file.path = /m/launch-params
extensions.dir = /ext
`,
		},
		{
			name: "the legacy broker keys; health off; extra replaces a key",
			payload: model.Payload{{Key: model.PayloadMBIP, Value: "10.0.0.1"}, {Key: model.PayloadMBPort, Value: "1884"},
				{Key: model.PayloadCEPURLs, Value: "c:7711"}, {Key: model.PayloadEnableHealthPublisher, Value: "false"},
				{Key: model.PayloadMBPassword, Value: "a\nmb.username = root"}},
			extra: "# timings\nlisten.address: 0.0.0.0\nstats.notifier.interval = 1",
			want: `[agent]
mb.urls = 10.0.0.1:1884
thrift.receiver.urls = c:7711
cep.stats.publisher.enabled = false
APPLICATION_PATH = /m/app
param.file.path = /m/launch-params
# timings
listen.address: 0.0.0.0
stats.notifier.interval = 1
`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := agentConf(tc.payload, "127.0.0.5", "/m/app", "/m/launch-params", tc.ext, tc.extra)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("agent.conf (-want +got):\n%s", d)
			}
		})
	}
}

// TestAgentCommand: a cartridge's "agent" property replaces `strata agent`: the command runs in
// the member's directory with the payload in its environment and the paths of its agent.conf
// and launch-params; a program that cannot run is refused at Start.
func TestAgentCommand(t *testing.T) {
	d := newDriver(t, t.TempDir())
	terminateAll(t, d)
	in := instance("agentM", testenv.FreePort(t), "")
	in.Payload.Set(model.PayloadMBUsername, "agent.m")
	in.IaaS.Property = append(in.IaaS.Property, model.NameValue{Name: PropertyAgent,
		Value: model.String(`{ pwd; echo "$MEMBER_ID|$MB_USERNAME|$` + model.EnvAgentConf + `|$` + model.EnvLaunchParams + `"; } > seen; exec sleep 60`)})
	s, err := d.Start(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(d.opts.DataDir, s.InstanceID)
	seen := filepath.Join(dir, "seen")
	testenv.Eventually(t, 10*time.Second, "the agent command to run", func() bool {
		b, _ := os.ReadFile(seen)
		return strings.Count(string(b), "\n") == 2
	})
	b, _ := os.ReadFile(seen)
	want := dir + "\nagentM|agent.m|" + filepath.Join(dir, "agent.conf") + "|" + filepath.Join(dir, "launch-params") + "\n"
	if string(b) != want {
		t.Errorf("the agent command saw\n%s\nwant\n%s", b, want)
	}
	conf, _ := os.ReadFile(filepath.Join(dir, "agent.conf"))
	if !strings.Contains(string(conf), "mb.username = agent.m\n") {
		t.Errorf("agent.conf:\n%s\nwant the payload's MB_USERNAME", conf)
	}

	// The driver's agent command serves the cartridges that name none.
	d2 := newDriver(t, t.TempDir())
	d2.opts.AgentCommand = `echo "$MEMBER_ID" > seen; exec sleep 60`
	terminateAll(t, d2)
	s2, err := d2.Start(context.Background(), instance("agentD", testenv.FreePort(t), ""))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the driver's agent command to run", func() bool {
		b, _ := os.ReadFile(filepath.Join(d2.opts.DataDir, s2.InstanceID, "seen"))
		return string(b) == "agentD\n"
	})

	bad := instance("agentBad", testenv.FreePort(t), "")
	bad.IaaS.Property = append(bad.IaaS.Property, model.NameValue{Name: PropertyAgent, Value: model.String("/opt/no/such/agent --conf agent.conf")})
	if _, err := d.Start(context.Background(), bad); err == nil || !strings.Contains(err.Error(), `agent command "/opt/no/such/agent --conf agent.conf": program /opt/no/such/agent not found`) {
		t.Errorf("Start with a missing agent program = %v", err)
	}
}
