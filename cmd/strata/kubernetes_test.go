package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/strata-paas/strata/controller/kubernetes"
	"github.com/strata-paas/strata/controller/kubernetes/kubetest"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// podDeletions records, from a watch on the API server, when each member's pod began to be
// deleted (its deletion timestamp, or its removal).
type podDeletions struct {
	mu sync.Mutex
	at map[string]time.Time // member id -> first seen
}

func watchPodDeletions(t *testing.T, kc *kubetest.Cluster) *podDeletions {
	d := &podDeletions{at: map[string]time.Time{}}
	record := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		d.mu.Lock()
		if m := p.Annotations[kubernetes.LabelMember]; d.at[m].IsZero() {
			d.at[m] = time.Now()
		}
		d.mu.Unlock()
	}
	factory := informers.NewSharedInformerFactoryWithOptions(kc.Client, 0, informers.WithNamespace("default"))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) {
			if p, ok := obj.(*corev1.Pod); ok && p.DeletionTimestamp != nil {
				record(p)
			}
		},
		DeleteFunc: record,
	}); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	factory.Start(stop)
	t.Cleanup(func() { close(stop); factory.Shutdown() })
	if !cache.WaitForCacheSync(stop, inf.HasSynced) {
		t.Fatal("the pod informer did not sync")
	}
	return d
}

func (d *podDeletions) of(member string) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.at[member]
}

// TestKubernetesMembers: the sample application on a `kubernetes` network partition whose
// partition names a Kubernetes cluster defined over REST (a real API server, a test node that
// runs the pods' containers as local processes): two members go Active through their real
// agents, as pods with Strata's labels and the payload in their environment, behind a NodePort
// Service that the topology records at the Kubernetes host's address, and the load balancer serves
// them through that Service (every request goes through the test node's node port, as kube-proxy
// would forward it, not to a pod IP). A pod deleted
// with kubectl is replaced; scale-in runs the cleanup flow before the pod is deleted; a restarted
// `strata up` adopts the running pods without restarting them and removes a pod with Strata's
// labels that no member owns. A Service deleted with kubectl leaves the cluster's kubernetesServices.
func TestKubernetesMembers(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("real processes: skipped with -short")
	}
	kc, node := kubeClusterWithNode(t)
	deletions := watchPodDeletions(t, kc)
	a, args := upArgs(t)
	api := "http://" + a.api
	args = append(args, "--monitor-interval", "1s", "--cep-window", "4s", "--topology-sync", "5s")
	env := []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}
	p := startUp(t, env, args...)
	p.waitHTTP(t, api+"/healthz")
	events := watchBus(t, a.mqtt)

	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte("k8s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port, proxyPort := testenv.FreePort(t), testenv.FreePort(t)
	lb := fmt.Sprintf("http://127.0.0.1:%d", proxyPort)
	command := fmt.Sprintf(`%q demo-server --listen "$STRATA_MEMBER_IP:$PORTS" --burn 0s --root %q & exec %q agent --payload "$STRATA_LAUNCH_PARAMS"`,
		strataBin, root, strataBin)
	const (
		app, np, partition, k8s = "k8s-app", "np-k8s", "P1", "k8s-1"
		clusterID               = app + ".web.php.domain"
	)
	posts := []post{
		{"/kubernetesClusters", map[string]any{"clusterId": k8s, "kubernetesMaster": map[string]any{"hostId": "master", "publicIPAddress": "192.0.2.1"},
			"kubernetesHosts": []map[string]any{{"hostId": node.Name, "privateIPAddress": node.IP, "publicIPAddress": node.IP}},
			"portRange":       map[string]any{"lower": 31000, "upper": 31099},
			"property": []map[string]string{{"name": "kubeconfig", "value": kc.Kubeconfig}, {"name": "context", "value": "kubetest"},
				{"name": "payload_parameter.stats.notifier.interval", "value": "1"}, {"name": "payload_parameter.port.check.interval", "value": "1"}}}},
		{"/networkPartitions", map[string]any{"id": np, "provider": "kubernetes", "partitions": []map[string]any{{"id": partition,
			"property": []map[string]string{{"name": "cluster", "value": k8s}}}}}},
		{"/autoscalingPolicies", map[string]any{"id": "k8s-as", "loadThresholds": map[string]any{
			"requestsInFlight": map[string]any{"threshold": 1000}, "memoryConsumption": map[string]any{"threshold": 99},
			"loadAverage": map[string]any{"threshold": 1000}}}},
		{"/deploymentPolicies", k8sDeploymentPolicy(2)},
		{"/applicationPolicies", map[string]any{"id": "k8s-ap", "algorithm": "one-after-another", "networkPartitions": []string{np}}},
		{"/cartridges", map[string]any{"type": "php", "category": "framework", "host": "php.strata.local", "multiTenant": "false",
			"portMapping": []map[string]any{{"name": "http", "protocol": "http", "port": port, "proxyPort": proxyPort}},
			"iaasProvider": []map[string]any{{"type": "kubernetes", "imageId": "strata/cartridge-demo:1", "property": []map[string]string{
				{"name": "command", "value": command}, {"name": "gracePeriod", "value": "5"}}}}}},
		{"/applications", map[string]any{"applicationId": app, "alias": app, "multiTenant": false,
			"components": map[string]any{"cartridges": []map[string]any{{"type": "php", "cartridgeMin": 2, "cartridgeMax": 2,
				"subscribableInfo": map[string]any{"alias": "web", "autoscalingPolicy": "k8s-as", "deploymentPolicy": "k8s-deploy"}}}}}},
	}
	postAll(t, api, posts)
	if code, body, _ := call(t, http.MethodPost, api+"/api/applications/"+app+"/deploy/k8s-ap", ""); code != http.StatusAccepted {
		t.Fatalf("deploy = %d %s", code, body)
	}
	if code, body, _ := call(t, http.MethodDelete, api+"/api/kubernetesClusters/"+k8s, ""); code != http.StatusConflict {
		t.Errorf("removing the cluster in use = %d %s, want 409", code, body)
	}

	var members []string
	waitUntil(t, 120*time.Second, "two Active members", func() bool {
		members = activeMembers(runtimeMembers(t, api, app))
		return len(members) == 2
	})
	pods, err := kc.Client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{
		LabelSelector: kubernetes.LabelCluster + "=" + clusterID})
	if err != nil || len(pods.Items) != 2 {
		t.Fatalf("pods of the cluster: %d, %v", len(pods.Items), err)
	}
	uids := map[string]string{}
	for _, pod := range pods.Items {
		m := pod.Annotations[kubernetes.LabelMember]
		uids[m] = string(pod.UID)
		if !slices.Contains(members, m) || pod.Labels[kubernetes.LabelApplication] != app || pod.Labels[kubernetes.LabelPartition] != partition {
			t.Errorf("pod %s: labels %v annotations %v", pod.Name, pod.Labels, pod.Annotations)
		}
		if !slices.ContainsFunc(pod.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == "MEMBER_ID" && e.Value == m }) {
			t.Errorf("pod %s: no MEMBER_ID=%s in %v", pod.Name, m, pod.Spec.Containers[0].Env)
		}
	}
	svcs, err := kc.Client.CoreV1().Services("default").List(context.Background(), metav1.ListOptions{})
	if err != nil || len(svcs.Items) < 2 { // the API server's own "kubernetes" service and ours
		t.Fatalf("services %v %v", svcs, err)
	}
	_, topo, _ := call(t, http.MethodGet, api+"/api/cluster/"+clusterID, "")
	var view struct {
		KubernetesServices []model.KubernetesService `json:"kubernetesServices"`
	}
	if err := json.Unmarshal([]byte(topo), &view); err != nil || len(view.KubernetesServices) != 1 {
		t.Fatalf("the cluster's kubernetesServices: %v in %s", err, topo)
	}
	ks := view.KubernetesServices[0]
	if ks.KubernetesClusterID != k8s || ks.ServiceType != "NodePort" || ks.Port < 31000 || ks.Port > 31099 ||
		!slices.Equal(ks.PublicIPs, []string{node.IP}) {
		t.Errorf("the cluster's Service %+v: want a NodePort in 31000-31099 at the host %s (not the master)", ks, node.IP)
	}
	waitServed(t, lb, "/", "k8s\n", members, 60*time.Second)
	// Every request went through the node port: one forwarded connection per request, none to a
	// pod IP directly.
	servedThroughNodePort(t, node, lb, int32(ks.Port), members)

	// kubectl delete pod: the member is replaced.
	victim := members[0]
	kc.Kubectl(t, "delete", "pod", "-n", "default", strings.ToLower(victim), "--wait=false")
	waitUntil(t, 120*time.Second, "a replacement member Active", func() bool {
		ms := activeMembers(runtimeMembers(t, api, app))
		return len(ms) == 2 && !slices.Contains(ms, victim)
	})
	members = activeMembers(runtimeMembers(t, api, app))

	// Restart with pods running: the same members, the same pods; a stray pod of Strata's is removed.
	stray := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "stray", Namespace: "default",
		Labels:      map[string]string{kubernetes.LabelManagedBy: kubernetes.ManagedBy, kubernetes.LabelCluster: clusterID},
		Annotations: map[string]string{kubernetes.LabelMember: clusterID + "00000000-0000-0000-0000-000000000000"}},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "x", Command: []string{"sleep", "600"}}}}}
	p.stop()
	p.done <- <-p.done
	if _, err := kc.Client.CoreV1().Pods("default").Create(context.Background(), stray, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := map[string]string{}
	pods, _ = kc.Client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: kubernetes.LabelCluster + "=" + clusterID})
	for _, pod := range pods.Items {
		before[pod.Annotations[kubernetes.LabelMember]] = string(pod.UID)
	}
	p = startUp(t, env, args...)
	p.waitHTTP(t, api+"/healthz")
	waitUntil(t, 60*time.Second, "the stray pod removed", func() bool {
		_, err := kc.Client.CoreV1().Pods("default").Get(context.Background(), "stray", metav1.GetOptions{})
		return err != nil
	})
	if got := activeMembers(runtimeMembers(t, api, app)); !slices.Equal(got, members) {
		t.Errorf("members after the restart %v, want %v", got, members)
	}
	for _, m := range members {
		pod, err := kc.Client.CoreV1().Pods("default").Get(context.Background(), strings.ToLower(m), metav1.GetOptions{})
		if err != nil || string(pod.UID) != before[m] || pod.Status.ContainerStatuses[0].RestartCount != 0 || pod.DeletionTimestamp != nil {
			t.Errorf("member %s after the restart: %v %v", m, pod, err)
		}
	}
	waitServed(t, lb, "/", "k8s\n", members, 60*time.Second)
	servedThroughNodePort(t, node, lb, int32(ks.Port), members)

	// Scale-in (partitionMax 2 -> 1): the cleanup flow completes before the pod is deleted.
	if code, body, _ := call(t, http.MethodPut, api+"/api/deploymentPolicies", jsonText(t, k8sDeploymentPolicy(1))); code != http.StatusOK {
		t.Fatalf("PUT deployment policy = %d %s", code, body)
	}
	var gone string
	waitUntil(t, 120*time.Second, "one member left", func() bool {
		ms := runtimeMembers(t, api, app)
		for _, m := range members {
			if _, ok := ms[m]; !ok {
				gone = m
			}
		}
		return gone != "" && len(ms) == 1
	})
	var deleted time.Time
	waitUntil(t, 30*time.Second, "the scaled-in member's pod deletion observed", func() bool {
		deleted = deletions.of(gone)
		return !deleted.IsZero()
	})
	ready := events.first(gone, "MemberReadyToShutdownEvent")
	if ready.IsZero() || deleted.IsZero() || deleted.Before(ready) {
		t.Errorf("member %s: ready to shut down at %v, pod deletion at %v: want the cleanup flow first", gone, ready, deleted)
	}

	// The Service deleted outside Strata: the cluster's kubernetesServices stop listing it.
	kc.Kubectl(t, "delete", "service", "-n", "default", ks.ID)
	waitUntil(t, 30*time.Second, "the deleted Service unlisted", func() bool {
		_, topo, _ := call(t, http.MethodGet, api+"/api/cluster/"+clusterID, "")
		return strings.Contains(topo, `"kubernetesServices":[]`)
	})
}

// servedThroughNodePort sends requests through the load balancer and checks that each was served
// by a member and reached it through the test node's node port (one connection forwarded per
// request), not at the member's pod IP.
func servedThroughNodePort(t *testing.T, node *kubetest.Node, lb string, nodePort int32, members []string) {
	t.Helper()
	const n = 10
	client := &http.Client{Timeout: 5 * time.Second}
	before := node.Forwarded(nodePort)
	for range n {
		code, body, member, err := fetch(client, lb+"/")
		if err != nil || code != http.StatusOK || body != "k8s\n" || !slices.Contains(members, member) {
			t.Fatalf("through the load balancer: %d %q from member %q, %v; want the page from one of %v", code, body, member, err, members)
		}
	}
	if got := node.Forwarded(nodePort) - before; got != n {
		t.Errorf("%d requests served, %d connections forwarded from node port %d: want each request through the Service", n, got, nodePort)
	}
}

func k8sDeploymentPolicy(partitionMax int) map[string]any {
	return map[string]any{"id": "k8s-deploy", "networkPartitions": []map[string]any{{
		"id": "np-k8s", "partitionAlgo": "one-after-another",
		"partitions": []map[string]any{{"id": "P1", "partitionMax": partitionMax}},
	}}}
}

// TestKubernetesTwoClustersAndCrashLoop: a network partition whose two partitions name two
// Kubernetes clusters (two API servers), with round-robin: an application of min 2 has a pod on
// each. A cartridge whose container crashes soon after it starts is not replaced again and again:
// the autoscaler backs off, as with local members; so is one whose container exits 0.
func TestKubernetesTwoClustersAndCrashLoop(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("real processes: skipped with -short")
	}
	kcs := []*kubetest.Cluster{kubetest.StartAPIServer(t), kubetest.StartAPIServer(t)}
	for _, kc := range kcs {
		kubetest.StartNode(t, kc, kubetest.NodeOptions{})
	}
	a, args := upArgs(t)
	api := "http://" + a.api
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, append(args, "--monitor-interval", "1s")...)
	p.waitHTTP(t, api+"/healthz")
	posts := []post{
		{"/autoscalingPolicies", map[string]any{"id": "k8s-as", "loadThresholds": map[string]any{
			"requestsInFlight": map[string]any{"threshold": 1000}, "memoryConsumption": map[string]any{"threshold": 99},
			"loadAverage": map[string]any{"threshold": 1000}}}},
	}
	var partitions, refs []map[string]any
	for i, kc := range kcs {
		id := fmt.Sprintf("k8s-%d", i+1)
		posts = append(posts, post{"/kubernetesClusters", map[string]any{"clusterId": id, "kubernetesMaster": map[string]any{"hostId": id + "-master"},
			"property": []map[string]string{{"name": "kubeconfig", "value": kc.Kubeconfig}}}})
		partitions = append(partitions, map[string]any{"id": "P" + id, "property": []map[string]string{{"name": "cluster", "value": id}}})
		refs = append(refs, map[string]any{"id": "P" + id, "partitionMax": 5})
	}
	posts = append(posts,
		post{"/networkPartitions", map[string]any{"id": "np-k8s", "provider": "kubernetes", "partitions": partitions}},
		post{"/deploymentPolicies", map[string]any{"id": "k8s-deploy", "networkPartitions": []map[string]any{{
			"id": "np-k8s", "partitionAlgo": "round-robin", "partitions": refs}}}},
		post{"/applicationPolicies", map[string]any{"id": "k8s-ap", "algorithm": "one-after-another", "networkPartitions": []string{"np-k8s"}}})
	for typ, command := range map[string]string{"sleeper": "exec sleep 600", "crash": "sleep 1; exit 1", "done": "sleep 1; exit 0"} {
		posts = append(posts, post{"/cartridges", map[string]any{"type": typ, "category": "framework", "host": typ + ".strata.local", "multiTenant": "false",
			"portMapping":  []map[string]any{{"name": "http", "protocol": "http", "port": testenv.FreePort(t), "proxyPort": testenv.FreePort(t)}},
			"iaasProvider": []map[string]any{{"type": "kubernetes", "imageId": "strata/" + typ, "property": []map[string]string{{"name": "command", "value": command}}}},
		}}, post{"/applications", map[string]any{"applicationId": "app-" + typ, "alias": "app-" + typ, "components": map[string]any{
			"cartridges": []map[string]any{{"type": typ, "cartridgeMin": 2, "cartridgeMax": 2, "subscribableInfo": map[string]any{
				"alias": "web", "autoscalingPolicy": "k8s-as", "deploymentPolicy": "k8s-deploy"}}}}}})
	}
	postAll(t, api, posts)
	for _, app := range []string{"app-sleeper", "app-crash", "app-done"} {
		if code, body, _ := call(t, http.MethodPost, api+"/api/applications/"+app+"/deploy/k8s-ap", ""); code != http.StatusAccepted {
			t.Fatalf("deploy %s = %d %s", app, code, body)
		}
	}
	began := time.Now()
	selector := metav1.ListOptions{LabelSelector: kubernetes.LabelCluster + "=app-sleeper.web.sleeper.domain"}
	waitUntil(t, 60*time.Second, "a sleeper pod on each cluster", func() bool {
		for _, kc := range kcs {
			pods, err := kc.Client.CoreV1().Pods("default").List(context.Background(), selector)
			if err != nil || len(pods.Items) != 1 {
				return false
			}
		}
		return true
	})

	<-time.After(20*time.Second - time.Since(began)) // the window the crashing starts are counted in
	// A container that exits 0 is no different: its member ended, and one that keeps ending soon
	// after it starts is backed off (as the kubelet backs off a container that completes).
	for _, app := range []string{"app-crash", "app-done"} {
		f := startFailureOf(t, api, app)
		failures, _ := f["failures"].(float64)
		quick, _ := f["quickFailures"].(float64)
		t.Logf("%s after %v: %v", app, time.Since(began).Round(time.Second), f)
		if failures < 2 || failures > 8 {
			t.Errorf("%s: %v members failed in about 20 s, want 2 to 8 (backing off, still retrying)", app, failures)
		}
		if quick < 2 || f["backoffUntil"] == nil {
			t.Errorf("%s: runtime startFailure %v, want quickFailures and backoffUntil", app, f)
		}
	}
}

// kubeClusterWithNode starts a test API server and a test node, and logs every pod's cartridge
// output when the test fails.
func kubeClusterWithNode(t *testing.T) (*kubetest.Cluster, *kubetest.Node) {
	t.Helper()
	kc := kubetest.StartAPIServer(t)
	node := kubetest.StartNode(t, kc, kubetest.NodeOptions{})
	t.Cleanup(func() {
		if t.Failed() {
			pods, _ := kc.Client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{})
			for _, pod := range pods.Items {
				t.Logf("pod %s (%s) logs:\n%s", pod.Name, pod.Status.Phase, node.Logs("default", pod.Name, "cartridge"))
			}
		}
	})
	return kc, node
}
