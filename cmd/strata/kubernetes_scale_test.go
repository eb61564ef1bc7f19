package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/strata-paas/strata/controller/kubernetes"
	"github.com/strata-paas/strata/internal/testenv"
)

// cartridgeImage lays out what deploy/kubernetes/cartridge.Dockerfile puts in the image, for
// the test node (no chroot): the image's agent.conf and StartServers.sh, with the paths of the
// extensions directory, the application and the binary, and the listen address (a pod has its own
// network namespace; the test node's pods share the host's, each on its own address) replaced. It returns
// the container's command: the agent as the main process, as the image's entrypoint runs it.
func cartridgeImage(t *testing.T) string {
	t.Helper()
	script, err := os.ReadFile("../../deploy/kubernetes/cartridge/StartServers.sh")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(script), "/usr/local/bin/strata", strataBin)
	s = strings.ReplaceAll(s, `"0.0.0.0:$port"`, `"$STRATA_MEMBER_IP:$port"`)
	if s == string(script) || !strings.Contains(s, "$STRATA_MEMBER_IP:$port") {
		t.Fatal("StartServers.sh no longer starts the server as this test expects: update cartridgeImage")
	}
	dir := t.TempDir()
	ext, www := filepath.Join(dir, "extensions"), filepath.Join(dir, "www")
	for _, d := range []string{ext, www} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(ext, "StartServers.sh"), []byte(s), 0o755); err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile("../../deploy/kubernetes/cartridge/agent.conf")
	if err != nil {
		t.Fatal(err)
	}
	c := strings.ReplaceAll(string(shipped), "/opt/strata/extensions", ext)
	c = strings.ReplaceAll(c, "/var/www", www)
	conf := filepath.Join(dir, "agent.conf")
	if err := os.WriteFile(conf, []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`exec %q agent --conf %q --payload "$STRATA_LAUNCH_PARAMS"`, strataBin, conf)
}

// TestKubernetesScaleUnderLoad: the demo cartridge's image layout (the agent as the container's
// main process, StartServers.sh starting the demo server with the demo's per-request cost) on a
// Kubernetes cluster, behind the load balancer. Load above the requests-in-flight threshold makes
// the autoscaler scale out; a lower load, kept on, makes it scale back in. For each member scaled
// in, the cleanup flow (MemberReadyToShutdownEvent) comes before its pod's deletion and before the
// test node's SIGTERM to the container; the SIGTERM reaches the demo server, which the agent
// started, and it stops gracefully; and no request fails during the scale-in: the load balancer
// stops routing to the member at maintenance mode, before the pod is deleted.
func TestKubernetesScaleUnderLoad(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("real processes: skipped with -short")
	}
	kc, node := kubeClusterWithNode(t)
	deletions := watchPodDeletions(t, kc)
	a, args := upArgs(t)
	api := "http://" + a.api
	args = append(args, "--monitor-interval", "1s", "--cep-window", "4s", "--topology-sync", "5s")
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, args...)
	p.waitHTTP(t, api+"/healthz")
	events := watchBus(t, a.mqtt)

	port, proxyPort := testenv.FreePort(t), testenv.FreePort(t)
	lb := fmt.Sprintf("http://127.0.0.1:%d", proxyPort)
	const (
		app, np, k8s = "k8s-scale", "np-k8s", "k8s-1"
		clusterID    = app + ".web.demo-web-k8s.domain"
	)
	posts := []post{
		// The test node is the cluster's host: the load balancer reaches the members through the
		// Service's node port on it, as it would outside the cluster.
		{"/kubernetesClusters", map[string]any{"clusterId": k8s, "kubernetesMaster": map[string]any{"hostId": "master"},
			"kubernetesHosts": []map[string]any{{"hostId": node.Name, "privateIPAddress": node.IP, "publicIPAddress": node.IP}},
			"portRange":       map[string]any{"lower": 31100, "upper": 31199},
			"property": []map[string]string{{"name": "kubeconfig", "value": kc.Kubeconfig}, {"name": "context", "value": "kubetest"},
				{"name": "payload_parameter.stats.notifier.interval", "value": "1"}, {"name": "payload_parameter.port.check.interval", "value": "1"}}}},
		{"/networkPartitions", map[string]any{"id": np, "provider": "kubernetes", "partitions": []map[string]any{{"id": "P1",
			"property": []map[string]string{{"name": "cluster", "value": k8s}}}}}},
		// examples/kubernetes' threshold of 3 requests in flight per member; the members' load
		// average and memory, the host's, must not hold the scale-in on a busy test machine.
		{"/autoscalingPolicies", map[string]any{"id": "k8s-as", "loadThresholds": map[string]any{
			"requestsInFlight": map[string]any{"threshold": 3}, "memoryConsumption": map[string]any{"threshold": 99},
			"loadAverage": map[string]any{"threshold": 100000}}}},
		{"/deploymentPolicies", map[string]any{"id": "k8s-deploy", "networkPartitions": []map[string]any{{
			"id": np, "partitionAlgo": "one-after-another", "partitions": []map[string]any{{"id": "P1", "partitionMax": 3}}}}}},
		{"/applicationPolicies", map[string]any{"id": "k8s-ap", "algorithm": "one-after-another", "networkPartitions": []string{np}}},
		{"/cartridges", map[string]any{"type": "demo-web-k8s", "category": "framework", "host": "demo.strata.local", "multiTenant": "false",
			"portMapping": []map[string]any{{"name": "http", "protocol": "http", "port": port, "proxyPort": proxyPort}},
			"iaasProvider": []map[string]any{{"type": "kubernetes", "imageId": "strata/cartridge-demo:1", "property": []map[string]string{
				{"name": "command", "value": cartridgeImage(t)}, {"name": "gracePeriod", "value": "30"}}}}}},
		{"/applications", map[string]any{"applicationId": app, "alias": app, "multiTenant": false,
			"components": map[string]any{"cartridges": []map[string]any{{"type": "demo-web-k8s", "cartridgeMin": 1, "cartridgeMax": 3,
				"subscribableInfo": map[string]any{"alias": "web", "autoscalingPolicy": "k8s-as", "deploymentPolicy": "k8s-deploy"}}}}}},
	}
	postAll(t, api, posts)
	if code, body, _ := call(t, http.MethodPost, api+"/api/applications/"+app+"/deploy/k8s-ap", ""); code != http.StatusAccepted {
		t.Fatalf("deploy = %d %s", code, body)
	}
	waitUntil(t, 120*time.Second, "one Active member", func() bool {
		return len(activeMembers(runtimeMembers(t, api, app))) == 1
	})

	// Scale-out: about 24 req/s of 250 ms each is 6 requests in flight, twice the threshold.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	high, stopHigh := startLoad(ctx, lb+"/", 24)
	var out []string
	waitUntil(t, 180*time.Second, "a scale-out to 2 or more Active members", func() bool {
		out = activeMembers(runtimeMembers(t, api, app))
		return len(out) >= 2
	})
	stopHigh()
	t.Logf("scale-out: %d Active members; high load %d ok, %d failed", len(out), high.ok.Load(), high.failed.Load())

	// Scale-in under a lower load (about half a request in flight; still under the threshold when
	// a loaded machine makes a request take a second), kept on until the scaled-in pods are gone.
	// The scale-out may have started more members than were Active when it was seen: every
	// member seen Active counts, and all but one must go.
	low, stopLow := startLoad(ctx, lb+"/", 2)
	seen := map[string]bool{}
	for _, m := range out {
		seen[m] = true
	}
	var in []string
	waitUntil(t, 180*time.Second, "a scale-in to 1 member", func() bool {
		ms := runtimeMembers(t, api, app)
		for _, m := range activeMembers(ms) {
			seen[m] = true
		}
		in = in[:0]
		for m := range seen {
			if _, ok := ms[m]; !ok {
				in = append(in, m)
			}
		}
		return len(ms) == 1 && len(in) == len(seen)-1
	})
	waitUntil(t, 60*time.Second, "the scaled-in members' pods gone", func() bool {
		pods, err := kc.Client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{
			LabelSelector: kubernetes.LabelCluster + "=" + clusterID})
		return err == nil && len(pods.Items) == 1
	})
	stopLow()
	ready := func(m string) time.Time { return events.first(m, "MemberReadyToShutdownEvent") }
	for _, m := range in {
		pod := strings.ToLower(m)
		term, deleted := node.TermSent("default", pod, "cartridge"), deletions.of(m)
		t.Logf("member %s: maintenance %v, ready to shut down %v, pod deletion %v, SIGTERM %v", m,
			events.first(m, "MemberMaintenanceModeEvent").Format("15:04:05.000"), ready(m).Format("15:04:05.000"),
			deleted.Format("15:04:05.000"), term.Format("15:04:05.000"))
		if ready(m).IsZero() || deleted.IsZero() || deleted.Before(ready(m)) {
			t.Errorf("member %s: ready to shut down at %v, pod deletion at %v: want the cleanup flow first", m, ready(m), deleted)
		}
		if term.IsZero() || term.Before(ready(m)) {
			t.Errorf("member %s: SIGTERM at %v, ready to shut down at %v: want the cleanup flow first", m, term, ready(m))
		}
		if log := node.PodLog("default", pod, "cartridge"); !strings.Contains(log, "strata demo-server: stopped after") {
			t.Errorf("member %s: the demo server did not stop on SIGTERM; its container's log:\n%s", m, log)
		}
	}
	low.mu.Lock()
	errs := low.errs
	low.mu.Unlock()
	if n := low.failed.Load(); n > 0 {
		t.Errorf("%d of %d requests failed during the scale-in: %v", n, n+low.ok.Load(), errs)
	}
	t.Logf("scale-in: %d requests ok, %d failed", low.ok.Load(), low.failed.Load())
}
