package kubetest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/agent"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// deployDir is deploy/kubernetes, from this package's directory.
var deployDir = filepath.Join("..", "..", "..", "deploy", "kubernetes")

// TestManifestsDryRun: the manifests that run Strata on Kubernetes are accepted by a real API
// server: kubectl apply --dry-run=server validates every object against the server's schemas and
// admission (RBAC included: a Role may grant only what exists). The namespaces are created for
// real first, as the first file of a real apply would.
func TestManifestsDryRun(t *testing.T) {
	t.Parallel()
	c := StartAPIServer(t)
	c.Kubectl(t, "apply", "-f", filepath.Join(deployDir, "namespace.yaml"))
	out := c.Kubectl(t, "apply", "--dry-run=server", "-f", deployDir)
	for _, want := range []string{
		"serviceaccount/strata", "role.rbac.authorization.k8s.io/strata-driver",
		"rolebinding.rbac.authorization.k8s.io/strata-driver", "configmap/strata-config",
		"statefulset.apps/strata", "service/strata", "service/strata-headless",
	} {
		if !strings.Contains(out, want+" created (server dry run)") {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	// The driver's account can do what the driver does in the members' namespace, and nothing
	// outside it (checked on the real objects).
	c.Kubectl(t, "apply", "-f", filepath.Join(deployDir, "rbac.yaml"))
	sa := "--as=system:serviceaccount:strata:strata"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "create pods", args: []string{"create", "pods", "-n", "strata-members"}, want: "yes"},
		{name: "watch pods", args: []string{"watch", "pods", "-n", "strata-members"}, want: "yes"},
		{name: "delete services", args: []string{"delete", "services", "-n", "strata-members"}, want: "yes"},
		{name: "create secrets", args: []string{"create", "secrets", "-n", "strata-members"}, want: "yes"},
		{name: "create events", args: []string{"create", "events", "-n", "strata-members"}, want: "yes"},
		{name: "pods elsewhere", args: []string{"create", "pods", "-n", "default"}, want: "no"},
		{name: "nodes", args: []string{"list", "nodes"}, want: "no"},
		{name: "deployments", args: []string{"create", "deployments.apps", "-n", "strata-members"}, want: "no"},
	} {
		out, _ := c.KubectlErr(t, append([]string{"auth", "can-i", sa}, tc.args...)...)
		if got := strings.TrimSpace(out); got != tc.want {
			t.Errorf("%s: kubectl auth can-i says %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestCartridgeImageAgentConf: the agent.conf the cartridge image ships loads with a member's
// payload as the driver mounts it, and points the agent at the image's extensions.
func TestCartridgeImageAgentConf(t *testing.T) {
	dir := t.TempDir()
	payload := model.Payload{
		{Key: model.PayloadMBURLs, Value: "tcp://mosquitto:1883"},
		{Key: model.PayloadPorts, Value: "8080"},
		{Key: model.PayloadMemberID, Value: "m-1"},
		{Key: model.PayloadClusterID, Value: "demo.web.demo-web-k8s.domain"},
		{Key: model.PayloadServiceName, Value: "demo-web-k8s"},
		{Key: model.PayloadApplicationID, Value: "demo-k8s"},
		{Key: model.PayloadMultitenant, Value: "false"},
		{Key: model.PayloadTenantID, Value: "-1234"},
		{Key: model.PayloadCEPURLs, Value: "strata.strata.svc:7711"},
		{Key: model.PayloadCEPUsername, Value: "cep.m-1"},
		{Key: model.PayloadCEPPassword, Value: "pw"},
	}
	f, err := os.Create(filepath.Join(dir, "launch-params"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := payload.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cfg, err := agent.LoadConfig(filepath.Join(deployDir, "cartridge", "agent.conf"), f.Name())
	if err != nil {
		t.Fatalf("the image's agent.conf with a member's payload: %v", err)
	}
	if cfg.ExtensionsDir != "/opt/strata/extensions" || cfg.ApplicationPath != "/var/www" {
		t.Errorf("extensions dir %q, application path %q; want the image's", cfg.ExtensionsDir, cfg.ApplicationPath)
	}
	if cfg.ServerStopTimeout != 20*time.Second {
		t.Errorf("server stop timeout %v, want 20 s: under the pod's default grace period of 30 s", cfg.ServerStopTimeout)
	}
	if _, err := os.Stat(filepath.Join(deployDir, "cartridge", "StartServers.sh")); err != nil {
		t.Errorf("the image's StartServers extension: %v", err)
	}
}

// TestKubernetesExamples: the definitions of examples/kubernetes decode strictly into what the
// REST API takes, validate, and fit together (the partition, cartridge and policies the
// application and its policies name).
func TestKubernetesExamples(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "examples", "kubernetes")
	read := func(name string, v any) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	var cart model.Cartridge
	read("cartridge.json", &cart)
	if err := cart.Validate(); err != nil {
		t.Errorf("cartridge.json: %v", err)
	}
	if len(cart.IaasProvider) != 1 || cart.IaasProvider[0].Type != "kubernetes" || cart.IaasProvider[0].ImageID == "" {
		t.Errorf("cartridge.json: iaasProvider %+v, want one of type kubernetes with an image", cart.IaasProvider)
	}
	var np model.NetworkPartition
	read("network-partition.json", &np)
	if err := np.Validate(); err != nil {
		t.Errorf("network-partition.json: %v", err)
	}
	var app map[string]any // the manager's application bean is its own; its test decodes the Stratos samples
	read("application.json", &app)
	for name, kind := range map[string]policies.Kind{
		"autoscaling-policy.json": policies.KindAutoscaling, "deployment-policy.json": policies.KindDeployment,
		"application-policy.json": policies.KindApplication,
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := policies.DecodeStratosJSON(kind, b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "application.json"))
	for _, want := range []string{`"type": "` + cart.Type + `"`, `"deploymentPolicy": "k8s-deployment"`, `"autoscalingPolicy": "k8s-autoscaling"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("application.json lacks %s", want)
		}
	}
}
