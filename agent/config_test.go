package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const fullPayload = "APPLICATION_ID=app1,SERVICE_NAME=php,CLUSTER_ID=c1,MEMBER_ID=m1,PORTS=80|443," +
	"MULTITENANT=false,TENANT_ID=-1234,MB_URLS=10.0.0.1:1883|10.0.0.2:1883,CEP_URLS=10.0.0.1:7711," +
	"CEP_ADMIN_USERNAME=admin,CEP_ADMIN_PASSWORD=pw,LOG_FILE_PATHS=/var/log/a.log|/var/log/b.log," +
	"PORT_CHECK_TIMEOUT=2500,APPLICATION_PATH=/var/www,CLUSTER_INSTANCE_ID=ci1"

func writeConf(t *testing.T, conf, payload string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	cp, pp := filepath.Join(dir, "agent.conf"), filepath.Join(dir, "launch-params")
	if err := os.WriteFile(cp, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pp, []byte(payload), 0o644); err != nil {
		t.Fatal(err)
	}
	return cp, pp
}

func TestLoadConfig(t *testing.T) {
	cp, pp := writeConf(t, `[agent]
; comment
mb.urls = tcp://broker:1883
thrift.server.admin.username = null
artifact.update.interval = 0.5
port.check.interval: 2
cep.stats.publisher.enabled = TRUE
`, fullPayload+"\n")
	c, err := LoadConfig(cp, pp)
	if err != nil {
		t.Fatal(err)
	}
	got := struct {
		Brokers, CEP, Logs                     []string
		Ports                                  []int
		CEPUser, App, Member, CI, Path, Ext    string
		PortTimeout, PortInterval, ArtInterval time.Duration
		Health, LogsOn, MT                     bool
	}{c.BrokerURLs, c.CEPURLs, c.LogFilePaths, c.Ports, c.CEPUsername, c.ApplicationID, c.MemberID,
		c.ClusterInstanceID, c.ApplicationPath, c.ExtensionsDir, c.PortCheckTimeout, c.PortCheckInterval,
		c.ArtifactUpdateInterval, c.HealthEnabled, c.LogPublishing, c.Multitenant}
	want := got
	want.Brokers = []string{"tcp://broker:1883"} // agent.conf wins over MB_URLS
	want.CEP = []string{"10.0.0.1:7711"}
	want.Logs = []string{"/var/log/a.log", "/var/log/b.log"}
	want.Ports = []int{80, 443}
	want.CEPUser = "admin" // "null" in agent.conf counts as absent: the payload's value
	want.App, want.Member, want.CI, want.Path = "app1", "m1", "ci1", "/var/www"
	want.Ext = filepath.Join(filepath.Dir(cp), "extensions")
	want.PortTimeout, want.PortInterval, want.ArtInterval = 2500*time.Millisecond, 2*time.Second, 500*time.Millisecond
	want.Health, want.LogsOn, want.MT = true, true, false
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
	if c.ParamFilePath != pp {
		t.Errorf("ParamFilePath = %q", c.ParamFilePath)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		conf    string
		payload string
		want    []string // substrings of the error
	}{
		{
			name:    "typo in agent.conf",
			conf:    "[agent]\nmb.urls = tcp://b:1883\nport.chek.timeout = 1000\n",
			payload: fullPayload,
			want:    []string{"agent.conf:3", `unknown key "port.chek.timeout"`, `did you mean "port.check.timeout"`},
		},
		{
			name:    "unknown section and key before a section",
			conf:    "mb.urls = x\n[agnet]\nfoo = bar\n",
			payload: fullPayload,
			want:    []string{"agent.conf:1", "before the [agent] section", "agent.conf:2", "unknown section [agnet]"},
		},
		{
			name:    "repeated key and a line without =",
			conf:    "[agent]\nmb.urls = a\nmb.urls = b\njust words\n",
			payload: fullPayload,
			want:    []string{`agent.conf:3: key "mb.urls" repeated (first on line 2)`, `agent.conf:4: "just words" is not key = value`},
		},
		{
			name:    "missing required payload keys",
			conf:    "[agent]\n",
			payload: "SERVICE_NAME=php,CLUSTER_ID=c1,MULTITENANT=false,TENANT_ID=null,REPO_URL=http://git/x.git",
			want: []string{"missing required key APPLICATION_ID", "missing required key PORTS", "missing required key TENANT_ID",
				"missing required key MEMBER_ID", "missing required key CARTRIDGE_KEY (REPO_URL is set)",
				"missing required key mb.urls", "missing required key thrift.receiver.urls",
				"missing required key thrift.server.admin.username"},
		},
		{
			name:    "bad values",
			conf:    "[agent]\nauto.commit = yes\nstats.notifier.interval = soon\n",
			payload: strings.Replace(fullPayload, "PORTS=80|443", "PORTS=80|http", 1),
			want:    []string{`auto.commit = "yes" is not true or false`, `stats.notifier.interval = "soon"`, `PORTS entry "http"`},
		},
		{
			name:    "bad payload",
			conf:    "[agent]\n",
			payload: "APPLICATION_ID=a,SERVICE_NAME",
			want:    []string{"launch-params", `"SERVICE_NAME"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp, pp := writeConf(t, tt.conf, tt.payload)
			_, err := LoadConfig(cp, pp)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestHealthDisabledNeedsNoCEP(t *testing.T) {
	cp, pp := writeConf(t, "[agent]\ncep.stats.publisher.enabled = false\n",
		"APPLICATION_ID=a,SERVICE_NAME=s,CLUSTER_ID=c,MEMBER_ID=m,PORTS=80,MULTITENANT=false,TENANT_ID=1,MB_IP=10.0.0.1,MB_PORT=1883")
	c, err := LoadConfig(cp, pp)
	if err != nil {
		t.Fatal(err)
	}
	if c.HealthEnabled || len(c.BrokerURLs) != 1 || c.BrokerURLs[0] != "10.0.0.1:1883" {
		t.Errorf("health %v, brokers %q", c.HealthEnabled, c.BrokerURLs)
	}
}

func FuzzParseConf(f *testing.F) {
	f.Add("[agent]\nmb.urls = a\n# c\n")
	f.Add("[x]\n=\n:\n[")
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = parseConf("agent.conf", strings.NewReader(s))
	})
}
