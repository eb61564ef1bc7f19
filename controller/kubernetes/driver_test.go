package kubernetes_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/controller/kubernetes"
	"github.com/strata-paas/strata/controller/kubernetes/kubetest"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// clusters is the definitions the driver reads, as the manager would give them.
type clusters struct {
	mu   sync.Mutex
	defs map[string]model.KubernetesCluster
}

func (c *clusters) KubernetesCluster(id string) (model.KubernetesCluster, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.defs[id]
	return d, ok
}

func (c *clusters) KubernetesClusters() []model.KubernetesCluster {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []model.KubernetesCluster
	for _, d := range c.defs {
		out = append(out, d)
	}
	return out
}

func definition(id string, kc *kubetest.Cluster, lower, upper int) model.KubernetesCluster {
	return model.KubernetesCluster{ClusterID: id, KubernetesMaster: model.KubernetesHost{HostID: id + "-master", PublicIPAddress: "192.0.2.1"},
		PortRange: &model.PortRange{Lower: model.Int(lower), Upper: model.Int(upper)},
		Property: []model.NameValue{{Name: kubernetes.PropertyKubeconfig, Value: model.String(kc.Kubeconfig)},
			{Name: kubernetes.PropertyContext, Value: "kubetest"},
			{Name: "payload_parameter.LOG_LEVEL", Value: "DEBUG"}}}
}

// instance is a member of cluster "app.web.php.domain" in partition P1, which names the
// Kubernetes cluster k8s.
func instance(k8s, command string) controller.Instance {
	clusterID := "app.web.php.domain"
	id := model.NewMemberID(clusterID)
	ct := &model.Cartridge{Type: "php", PortMapping: []model.PortMapping{{Name: "http", Protocol: "http", Port: 8080, ProxyPort: 8280}},
		IaasProvider: []model.IaasProvider{{Type: kubernetes.Type, ImageID: "strata/php:1", Property: []model.NameValue{
			{Name: kubernetes.PropertyCommand, Value: model.String(command)}, {Name: kubernetes.PropertyGracePeriod, Value: "5"}}}}}
	var p model.Payload
	p.Set(model.PayloadApplicationID, "app")
	p.Set(model.PayloadMemberID, id)
	p.Set(model.PayloadLogLevel, "INFO")
	return controller.Instance{MemberID: id, ClusterID: clusterID, ClusterInstanceID: "app-1", ServiceName: "php",
		NetworkPartitionID: "np", PartitionID: "P1", Cartridge: ct, IaaS: &ct.IaasProvider[0],
		Partition: &model.Partition{ID: "P1", Property: []model.NameValue{{Name: kubernetes.PropertyCluster, Value: model.String(k8s)}}},
		Payload:   p}
}

// reported runs one of the driver's report loops (Watch, WatchServices) and returns what it
// reports.
func reported[T any](t *testing.T, run func(context.Context, func(T))) <-chan T {
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan T, 100)
	done := make(chan struct{})
	go func() { defer close(done); run(ctx, func(v T) { out <- v }) }()
	t.Cleanup(func() { cancel(); <-done })
	return out
}

// next is the next report of reported, within wait.
func next[T any](t *testing.T, ch <-chan T, wait time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("nothing reported within %v: %s", wait, what)
	}
	var zero T
	return zero
}

// watch runs the driver's Watch and returns the exits it reports.
func watch(t *testing.T, d *kubernetes.Driver) <-chan controller.Exit { return reported(t, d.Watch) }

func nextExit(t *testing.T, exits <-chan controller.Exit, what string) controller.Exit {
	t.Helper()
	return next(t, exits, 60*time.Second, "exit: "+what)
}

const sleeper = `cat "$STRATA_LAUNCH_PARAMS"; echo; echo "env MEMBER_ID=$MEMBER_ID LOG_LEVEL=$LOG_LEVEL"; exec sleep 600`

// A member is a pod on a real API server run by a test node: labelled, with the payload in its
// environment and launch-params file and the cluster's payload parameters over the platform's;
// its port has a NodePort Service in the cluster's port range; Start returns the pod's IP. A pod
// deleted with kubectl, or whose container crashes or exits 0, is reported as an exit (and the
// ended pod removed); Terminate deletes the pod with its grace period and its Secret; a new driver lists
// the pods that still run.
func TestDriverAgainstAPIServer(t *testing.T) {
	t.Parallel()
	kc := kubetest.StartAPIServer(t)
	node := kubetest.StartNode(t, kc, kubetest.NodeOptions{})
	defs := &clusters{defs: map[string]model.KubernetesCluster{"k8s": definition("k8s", kc, 31000, 31010)}}
	d, err := kubernetes.New(kubernetes.Options{Clusters: defs, Logger: testenv.Logger(t, -4)})
	if err != nil {
		t.Fatal(err)
	}
	exits := watch(t, d)
	ctx := context.Background()
	api := kc.Client.CoreV1()

	in := instance("k8s", sleeper)
	st, err := d.Start(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(st.InstanceID, "/")
	ns, name := parts[1], parts[2]
	if ns != "default" || len(st.PrivateIPs) != 1 || !strings.HasPrefix(st.PrivateIPs[0], "127.") {
		t.Fatalf("started %+v", st)
	}
	pod, err := api.Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Labels[kubernetes.LabelMember] == "" || pod.Labels[kubernetes.LabelCluster] != in.ClusterID ||
		pod.Labels[kubernetes.LabelApplication] != "app" || pod.Annotations[kubernetes.LabelMember] != in.MemberID {
		t.Errorf("labels %v annotations %v", pod.Labels, pod.Annotations)
	}
	if len(st.Services) != 1 || st.Services[0].ServiceType != "NodePort" || st.Services[0].Port < 31000 ||
		st.Services[0].Port > 31010 || st.Services[0].ContainerPort != 8080 || st.Services[0].KubernetesClusterID != "k8s" ||
		st.Services[0].PortalIP == "" || len(st.Services[0].PublicIPs) != 1 {
		t.Errorf("services %+v", st.Services)
	}
	svc, err := api.Services(ns).Get(ctx, st.Services[0].ID, metav1.GetOptions{})
	if err != nil || svc.Spec.Selector[kubernetes.LabelCluster] != in.ClusterID {
		t.Errorf("service %v %v", svc, err)
	}
	testenv.Eventually(t, 30*time.Second, "the container prints its payload", func() bool {
		return strings.Contains(node.Logs(ns, name, "cartridge"), "env MEMBER_ID="+in.MemberID+" LOG_LEVEL=DEBUG")
	})
	if first, _, _ := strings.Cut(node.Logs(ns, name, "cartridge"), "\n"); !strings.Contains(first, "MEMBER_ID="+in.MemberID) || !strings.Contains(first, "LOG_LEVEL=DEBUG") {
		t.Errorf("launch-params as the container read it: %s", first)
	}

	// A second member of the cluster shares the service.
	in2 := instance("k8s", sleeper)
	st2, err := d.Start(ctx, in2)
	if err != nil {
		t.Fatal(err)
	}
	if len(st2.Services) != 1 || st2.Services[0].ID != st.Services[0].ID || st2.Services[0].Port != st.Services[0].Port {
		t.Errorf("second member's services %+v", st2.Services)
	}

	// kubectl delete pod: an exit.
	kc.Kubectl(t, "delete", "pod", "-n", ns, name, "--wait=false")
	if e := nextExit(t, exits, "kubectl delete"); e.InstanceID != st.InstanceID || e.MemberID != in.MemberID || !strings.Contains(e.Reason, "deleted outside Strata") {
		t.Errorf("exit %+v", e)
	}

	// A crash: an exit with the code, and the pod is removed.
	crash := instance("k8s", "echo failing; exit 3")
	if st3, err := d.Start(ctx, crash); err == nil {
		e := nextExit(t, exits, "crash")
		if e.InstanceID != st3.InstanceID || !strings.Contains(e.Reason, "exit code 3") {
			t.Errorf("crash exit %+v", e)
		}
	} else if !strings.Contains(err.Error(), "exit code 3") {
		t.Errorf("crash at start: %v", err)
	}
	testenv.Eventually(t, 30*time.Second, "the crashed pod is removed", func() bool {
		_, err := api.Pods(ns).Get(ctx, kubernetesPodName(crash.MemberID), metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})

	// A container that exits 0 ended its member all the same (a member is a server: nothing
	// completes): an exit, and the pod is removed.
	done := instance("k8s", "sleep 1; exit 0")
	if st4, err := d.Start(ctx, done); err == nil {
		e := nextExit(t, exits, "exit 0")
		if e.InstanceID != st4.InstanceID || !strings.Contains(e.Reason, "exit code 0 (Completed)") {
			t.Errorf("exit 0 %+v", e)
		}
	} else if !strings.Contains(err.Error(), "exit code 0") {
		t.Errorf("exit 0 at start: %v", err)
	}
	testenv.Eventually(t, 30*time.Second, "the completed pod is removed", func() bool {
		_, err := api.Pods(ns).Get(ctx, kubernetesPodName(done.MemberID), metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})

	// A new driver (Strata restarted) lists the running pod.
	d2, err := kubernetes.New(kubernetes.Options{Clusters: defs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d2.Close)
	list, err := d2.List(ctx)
	if err != nil || len(list) != 1 || list[0].InstanceID != st2.InstanceID || list[0].MemberID != in2.MemberID ||
		list[0].PrivateIPs[0] != st2.PrivateIPs[0] {
		t.Errorf("list %+v %v", list, err)
	}

	// Terminate: gone, with its secret, and no exit reported.
	if err := d.Terminate(ctx, st2.InstanceID); err != nil {
		t.Fatal(err)
	}
	_, name2, _ := strings.Cut(strings.TrimPrefix(st2.InstanceID, "k8s/"), "/")
	if _, err := api.Pods(ns).Get(ctx, name2, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod after Terminate: %v", err)
	}
	if _, err := api.Secrets(ns).Get(ctx, name2, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("secret after Terminate: %v", err)
	}
	if _, err := api.Services(ns).Get(ctx, st.Services[0].ID, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the service after the cluster's last member was terminated: %v", err)
	}
	if err := d.Terminate(ctx, st2.InstanceID); err == nil {
		t.Error("a second Terminate succeeded")
	}
	select {
	case e := <-exits:
		t.Errorf("exit after Terminate: %+v", e)
	default:
	}
}

// kubernetesPodName is the driver's pod name of a member id that is already a valid name.
func kubernetesPodName(memberID string) string { return strings.ToLower(memberID) }

// Members of partitions that name two Kubernetes clusters run on each one's API server.
func TestDriverTwoClusters(t *testing.T) {
	t.Parallel()
	a, b := kubetest.StartAPIServer(t), kubetest.StartAPIServer(t)
	kubetest.StartNode(t, a, kubetest.NodeOptions{})
	kubetest.StartNode(t, b, kubetest.NodeOptions{})
	defs := &clusters{defs: map[string]model.KubernetesCluster{"a": definition("a", a, 31000, 31010), "b": definition("b", b, 31000, 31010)}}
	d, err := kubernetes.New(kubernetes.Options{Clusters: defs})
	if err != nil {
		t.Fatal(err)
	}
	watch(t, d)
	for _, k := range []string{"a", "b", "a", "b"} {
		if _, err := d.Start(context.Background(), instance(k, "exec sleep 600")); err != nil {
			t.Fatal(err)
		}
	}
	for _, kc := range []*kubetest.Cluster{a, b} {
		pods, err := kc.Client.CoreV1().Pods("default").List(context.Background(), metav1.ListOptions{LabelSelector: kubernetes.LabelManagedBy + "=" + kubernetes.ManagedBy})
		if err != nil || len(pods.Items) != 2 {
			t.Errorf("%s: %d pods, %v", kc.URL, len(pods.Items), err)
		}
	}
}

// The driver watches 1,000 pods with one informer, and starts 100 members at once (the time is
// logged: the acceptance bound is 10 s).
func TestDriverScale(t *testing.T) {
	t.Parallel()
	kc := kubetest.StartAPIServer(t)
	ctx := context.Background()
	// 1,000 pods of Strata's, bound to no node (the test node would run them all).
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range 1000 {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("idle-%04d", i), Namespace: "default",
				Labels: map[string]string{kubernetes.LabelManagedBy: kubernetes.ManagedBy}, Annotations: map[string]string{kubernetes.LabelMember: fmt.Sprintf("m%d", i)}},
				Spec: corev1.PodSpec{NodeName: "elsewhere", Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
			if _, err := kc.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	defs := &clusters{defs: map[string]model.KubernetesCluster{"k8s": definition("k8s", kc, 31000, 31010)}}
	d, err := kubernetes.New(kubernetes.Options{Clusters: defs})
	if err != nil {
		t.Fatal(err)
	}
	watch(t, d)
	list, err := d.List(ctx)
	if err != nil || len(list) != 1000 {
		t.Fatalf("listed %d, %v", len(list), err)
	}
	kubetest.StartNode(t, kc, kubetest.NodeOptions{})
	start := time.Now()
	errs := make(chan error, 100)
	for range 100 {
		go func() {
			_, err := d.Start(ctx, instance("k8s", "exec sleep 600"))
			errs <- err
		}()
	}
	for range 100 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("100 members started (pods with an IP) in %s", time.Since(start).Round(time.Millisecond))
	if list, _ := d.List(ctx); len(list) != 1100 {
		t.Errorf("listed %d after the starts", len(list))
	}
}

// BenchmarkDriverStart starts b.N members at once against a test API server and node and reports
// the time per member (with -benchtime=100x: 100 members; the acceptance bound is 10 s for 100).
func BenchmarkDriverStart(b *testing.B) {
	kc := kubetest.StartAPIServer(b)
	kubetest.StartNode(b, kc, kubetest.NodeOptions{})
	defs := &clusters{defs: map[string]model.KubernetesCluster{"k8s": definition("k8s", kc, 31000, 31010)}}
	d, err := kubernetes.New(kubernetes.Options{Clusters: defs})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(d.Close)
	if _, err := d.List(context.Background()); err != nil { // connect and sync before the clock runs
		b.Fatal(err)
	}
	errs := make(chan error, b.N)
	b.ResetTimer()
	for range b.N {
		go func() {
			_, err := d.Start(context.Background(), instance("k8s", "exec sleep 600"))
			errs <- err
		}()
	}
	for range b.N {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(b.Elapsed().Seconds(), "s/total")
}
