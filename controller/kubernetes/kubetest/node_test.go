package kubetest

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/strata-paas/strata/internal/testenv"
)

// podWith returns a pod in namespace default running sh -c script.
func podWith(name, script string, policy corev1.RestartPolicy) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "kubetest"}},
		Spec: corev1.PodSpec{
			RestartPolicy: policy,
			Containers:    []corev1.Container{{Name: "main", Image: "busybox", Command: []string{"/bin/sh", "-c", script}}},
		},
	}
}

func create(t *testing.T, c *Cluster, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	out, err := c.Client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
	return out
}

// waitPod polls the pod until cond holds, and returns it.
func waitPod(t *testing.T, c *Cluster, name, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	testenv.Eventually(t, 30*time.Second, name+": "+what, func() bool {
		p, err := c.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		last = p
		return cond(p)
	})
	return last
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func gone(t *testing.T, c *Cluster, name string) func() bool {
	return func() bool {
		_, err := c.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}
}

func TestAPIServer(t *testing.T) {
	t.Parallel()
	c := StartAPIServer(t)
	ctx := context.Background()
	svc, err := c.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service: %v", err)
	}
	if np := svc.Spec.Ports[0].NodePort; np < 30000 || np > 32767 || svc.Spec.ClusterIP == "" {
		t.Errorf("service: node port %d, cluster IP %q; want a port in %s and an IP", np, svc.Spec.ClusterIP, NodePortRange)
	}
	if out := c.Kubectl(t, "get", "service", "web", "-o", "jsonpath={.spec.ports[0].nodePort}"); out == "" {
		t.Errorf("kubectl get service: empty")
	}
	if _, err := c.KubectlErr(t, "get", "pod", "nosuch"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("kubectl get pod nosuch: %v, want not found", err)
	}
}

// TestPodRuns: a pod is bound, runs with its env (values, fieldRefs, a ConfigMap key) and its
// ConfigMap volume at the mountPath it names, on its own loopback address, and goes Ready.
func TestPodRuns(t *testing.T) {
	t.Parallel()
	c := StartAPIServer(t)
	n := StartNode(t, c, NodeOptions{})
	ctx := context.Background()
	if _, err := c.Client.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "conf"}, Data: map[string]string{"greeting": "hello", "who": "world"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := podWith("runs", `echo "name=$POD_NAME ip=$POD_IP who=$WHO greet=$(cat /etc/conf/greeting) file=$CONF_FILE"; exec sleep 600`, corev1.RestartPolicyAlways)
	p.Spec.Containers[0].Env = []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "WHO", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}, Key: "who"}}},
		{Name: "CONF_FILE", Value: "/etc/conf/greeting"},
	}
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "conf", MountPath: "/etc/conf"}}
	p.Spec.Volumes = []corev1.Volume{{Name: "conf", VolumeSource: corev1.VolumeSource{
		ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "conf"}}}}}
	create(t, c, p)

	got := waitPod(t, c, "runs", "running and ready", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning && ready(p) })
	if got.Spec.NodeName != n.Name {
		t.Errorf("node name %q, want %q", got.Spec.NodeName, n.Name)
	}
	ip, err := netip.ParseAddr(got.Status.PodIP)
	if err != nil || !ip.IsLoopback() || got.Status.PodIP == n.IP || got.Status.HostIP != n.IP {
		t.Errorf("pod IP %q host IP %q: want a loopback address of its own on node %s", got.Status.PodIP, got.Status.HostIP, n.IP)
	}
	cs := got.Status.ContainerStatuses
	if len(cs) != 1 || cs[0].State.Running == nil || !cs[0].Ready || cs[0].RestartCount != 0 {
		t.Errorf("container status %+v: want running, ready, no restart", cs)
	}
	root := filepath.Join(n.PodDir("default", "runs"), "rootfs", "main")
	want := "name=runs ip=" + got.Status.PodIP + " who=world greet=hello file=" + root + "/etc/conf/greeting"
	testenv.Eventually(t, 10*time.Second, "the container's output", func() bool {
		return strings.Contains(n.Logs("default", "runs", "main"), want)
	})
}

// TestPodImageEntrypoint: a container without a command runs its image's entrypoint; an image
// the node does not know leaves the container waiting with ErrImagePull and the pod Pending.
func TestPodImageEntrypoint(t *testing.T) {
	t.Parallel()
	c := StartAPIServer(t)
	n := StartNode(t, c, NodeOptions{Images: map[string]Image{
		"strata/echo:1": {Entrypoint: []string{"/bin/sh", "-c"}, Cmd: []string{"echo default; exec sleep 600"}, Env: []string{"FROM_IMAGE=yes"}},
	}})
	p := podWith("image", "", corev1.RestartPolicyAlways)
	p.Spec.Containers[0].Image, p.Spec.Containers[0].Command = "strata/echo:1", nil
	p.Spec.Containers[0].Args = []string{`echo "args image=$FROM_IMAGE"; exec sleep 600`}
	create(t, c, p)
	waitPod(t, c, "image", "ready", ready)
	testenv.Eventually(t, 10*time.Second, "the entrypoint's output", func() bool {
		return strings.Contains(n.Logs("default", "image", "main"), "args image=yes")
	})

	q := podWith("unknown", "", corev1.RestartPolicyAlways)
	q.Spec.Containers[0].Image, q.Spec.Containers[0].Command = "nosuch/image:1", nil
	create(t, c, q)
	got := waitPod(t, c, "unknown", "waiting for its image", func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "ErrImagePull"
	})
	if got.Status.Phase != corev1.PodPending || ready(got) {
		t.Errorf("pod with an unknown image: phase %s, ready %v; want Pending, not ready", got.Status.Phase, ready(got))
	}
}

// TestPodExitsAndRestarts: under Always a failing container is restarted after a back-off,
// waiting with CrashLoopBackOff and its last exit code; under Never the pod ends Succeeded or
// Failed; under OnFailure a clean exit ends it.
func TestPodExitsAndRestarts(t *testing.T) {
	t.Parallel()
	c := StartAPIServer(t)
	StartNode(t, c, NodeOptions{BackOff: 200 * time.Millisecond, MaxBackOff: time.Second})
	create(t, c, podWith("crash", "echo started; exit 3", corev1.RestartPolicyAlways))
	create(t, c, podWith("ok", "exit 0", corev1.RestartPolicyNever))
	create(t, c, podWith("fails", "exit 7", corev1.RestartPolicyNever))
	create(t, c, podWith("once", "exit 0", corev1.RestartPolicyOnFailure))

	got := waitPod(t, c, "crash", "restarted twice and backing off", func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount >= 2 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CrashLoopBackOff"
	})
	last := got.Status.ContainerStatuses[0].LastTerminationState.Terminated
	if last == nil || last.ExitCode != 3 || last.Reason != "Error" {
		t.Errorf("last termination %+v, want exit code 3, reason Error", last)
	}
	if got.Status.Phase != corev1.PodRunning || ready(got) {
		t.Errorf("crash-looping pod: phase %s, ready %v; want Running, not ready", got.Status.Phase, ready(got))
	}
	for name, want := range map[string]corev1.PodPhase{"ok": corev1.PodSucceeded, "fails": corev1.PodFailed, "once": corev1.PodSucceeded} {
		got := waitPod(t, c, name, "phase "+string(want), func(p *corev1.Pod) bool { return p.Status.Phase == want })
		cs := got.Status.ContainerStatuses
		if len(cs) != 1 || cs[0].State.Terminated == nil || cs[0].RestartCount != 0 {
			t.Errorf("%s: container status %+v, want terminated without restart", name, cs)
		}
	}
}

// TestPodKilledIsRestarted: a container killed by a signal is reported with 128+signal and
// restarted with its restart count up.
func TestPodKilledIsRestarted(t *testing.T) {
	t.Parallel()
	c := StartAPIServer(t)
	n := StartNode(t, c, NodeOptions{BackOff: 100 * time.Millisecond})
	create(t, c, podWith("victim", "exec sleep 600", corev1.RestartPolicyAlways))
	waitPod(t, c, "victim", "ready", ready)
	n.Kill(t, "default", "victim", "main")
	got := waitPod(t, c, "victim", "restarted and ready", func(p *corev1.Pod) bool {
		return ready(p) && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount == 1
	})
	last := got.Status.ContainerStatuses[0].LastTerminationState.Terminated
	if last == nil || last.ExitCode != 137 || last.Signal != int32(syscall.SIGKILL) {
		t.Errorf("last termination %+v, want exit code 137 by SIGKILL", last)
	}
}

// TestPodDeletionWithGrace: a deleted pod stays, with its deletion timestamp, while its
// container handles SIGTERM; a container that ignores SIGTERM is killed after the grace period;
// then the node removes the objects. kubectl delete pod works the same way.
func TestPodDeletionWithGrace(t *testing.T) {
	t.Parallel()
	c := StartAPIServer(t)
	n := StartNode(t, c, NodeOptions{})
	ctx := context.Background()
	marker := filepath.Join(t.TempDir(), "terminated")
	create(t, c, podWith("polite", `trap 'sleep 1; echo bye > `+marker+`; exit 0' TERM; while true; do sleep 0.1; done`, corev1.RestartPolicyAlways))
	create(t, c, podWith("stubborn", `trap '' TERM; while true; do sleep 0.1; done`, corev1.RestartPolicyAlways))
	create(t, c, podWith("cli", "exec sleep 600", corev1.RestartPolicyAlways))
	for _, name := range []string{"polite", "stubborn", "cli"} {
		waitPod(t, c, name, "ready", ready)
	}
	stubbornDir := n.PodDir("default", "stubborn")

	grace := int64(30)
	if err := c.Client.CoreV1().Pods("default").Delete(ctx, "polite", metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	p, err := c.Client.CoreV1().Pods("default").Get(ctx, "polite", metav1.GetOptions{})
	if err != nil || p.DeletionTimestamp == nil {
		t.Fatalf("right after a graceful delete: %v, %+v; want the pod with its deletion timestamp", err, p)
	}
	testenv.Eventually(t, 20*time.Second, "polite pod removed", gone(t, c, "polite"))
	if b, err := os.ReadFile(marker); err != nil || string(b) != "bye\n" {
		t.Errorf("the container's TERM handler: %q, %v; want it to have run to the end", b, err)
	}

	short := int64(1)
	if err := c.Client.CoreV1().Pods("default").Delete(ctx, "stubborn", metav1.DeleteOptions{GracePeriodSeconds: &short}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "stubborn pod removed", gone(t, c, "stubborn"))
	if stubbornDir == "" {
		t.Fatal("no directory for the stubborn pod")
	}

	c.Kubectl(t, "delete", "pod", "cli", "--grace-period=5", "--wait=false")
	testenv.Eventually(t, 20*time.Second, "pod deleted with kubectl removed", gone(t, c, "cli"))
	testenv.Eventually(t, 10*time.Second, "the node forgets the deleted pods", func() bool {
		return n.PodDir("default", "polite") == "" && n.PodDir("default", "stubborn") == "" && n.PodDir("default", "cli") == ""
	})
}

// TestPodDeletionSignalsMainProcess: as a container runtime, the node sends SIGTERM to the
// container's main process only (PID 1 of a container), notes when (TermSent), and kills the
// container's other processes, whatever their process group, once the main process ended.
func TestPodDeletionSignalsMainProcess(t *testing.T) {
	t.Parallel()
	c := StartAPIServer(t)
	n := StartNode(t, c, NodeOptions{})
	dir := t.TempDir()
	marker, childPID := filepath.Join(dir, "terminated"), filepath.Join(dir, "child.pid")
	// The child runs in a process group of its own, as the agent runs its extensions ($$$$ is
	// the shell's $$ once the node expanded the command as Kubernetes does).
	create(t, c, podWith("tree", `perl -e 'setpgrp(0, 0); exec @ARGV' sh -c 'trap "echo child >> `+marker+`" TERM; echo $$$$ > `+childPID+`; while :; do sleep 0.1; done' &
trap 'echo main >> `+marker+`; exit 0' TERM
while :; do sleep 0.1; done`, corev1.RestartPolicyAlways))
	waitPod(t, c, "tree", "ready", ready)
	pid := -1
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the container's log:\n%s", n.PodLog("default", "tree", "main"))
		}
	})
	testenv.Eventually(t, 10*time.Second, "the child runs", func() bool {
		b, err := os.ReadFile(childPID)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	})
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if !n.TermSent("default", "tree", "main").IsZero() {
		t.Error("TermSent before the deletion")
	}
	before := time.Now()
	grace := int64(10)
	if err := c.Client.CoreV1().Pods("default").Delete(context.Background(), "tree", metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "the pod removed", gone(t, c, "tree"))
	if b, err := os.ReadFile(marker); err != nil || string(b) != "main\n" {
		t.Errorf("TERM handlers that ran: %q, %v; want the main process's only", b, err)
	}
	testenv.Eventually(t, 10*time.Second, "the child killed", func() bool { return !running(pid) })
	if at := n.TermSent("default", "tree", "main"); at.Before(before) {
		t.Errorf("TermSent = %v, want after %v", at, before)
	}
}

// running reports whether the process runs (a zombie does not).
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && len(b) > i+2 && b[i+2] != 'Z'
}

// TestScheduling: a pod goes to the node whose labels its nodeSelector matches and whose taints
// it tolerates; a pod no node fits stays unscheduled.
func TestScheduling(t *testing.T) {
	t.Parallel()
	c := StartAPIServer(t)
	a := StartNode(t, c, NodeOptions{Labels: map[string]string{"zone": "a"}})
	b := StartNode(t, c, NodeOptions{Labels: map[string]string{"zone": "b"},
		Taints: []corev1.Taint{{Key: "dedicated", Value: "strata", Effect: corev1.TaintEffectNoSchedule}}})
	toA := podWith("to-a", "exec sleep 600", corev1.RestartPolicyAlways)
	toA.Spec.NodeSelector = map[string]string{"zone": "a"}
	toB := podWith("to-b", "exec sleep 600", corev1.RestartPolicyAlways)
	toB.Spec.NodeSelector = map[string]string{"zone": "b"}
	toB.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "strata", Effect: corev1.TaintEffectNoSchedule}}
	intolerant := podWith("intolerant", "exec sleep 600", corev1.RestartPolicyAlways)
	intolerant.Spec.NodeSelector = map[string]string{"zone": "b"}
	// The pod no node fits comes first: once to-b runs, node b has seen it (one watch, in order).
	for _, p := range []*corev1.Pod{intolerant, toA, toB} {
		create(t, c, p)
	}
	if got := waitPod(t, c, "to-a", "ready", ready); got.Spec.NodeName != a.Name {
		t.Errorf("to-a on %q, want %q", got.Spec.NodeName, a.Name)
	}
	if got := waitPod(t, c, "to-b", "ready", ready); got.Spec.NodeName != b.Name {
		t.Errorf("to-b on %q, want %q", got.Spec.NodeName, b.Name)
	}
	if got := waitPod(t, c, "intolerant", "seen", func(*corev1.Pod) bool { return true }); got.Spec.NodeName != "" {
		t.Errorf("intolerant pod bound to %q, want it unscheduled", got.Spec.NodeName)
	}
}

func TestExpandAndRewrite(t *testing.T) {
	vars := map[string]string{"A": "x", "B": "/etc/conf"}
	for _, tc := range []struct{ name, in, want string }{
		{name: "reference", in: "$(A)-$(B)", want: "x-/etc/conf"},
		{name: "undefined", in: "$(C)", want: "$(C)"},
		{name: "escaped", in: "$$(A) $", want: "$(A) $"},
		{name: "unclosed", in: "$(A", want: "$(A"},
	} {
		if got := expand(tc.in, vars); got != tc.want {
			t.Errorf("%s: expand(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
	mounts := []string{"/etc/conf/sub", "/etc/conf"}
	for _, tc := range []struct{ name, in, want string }{
		{name: "whole", in: "/etc/conf", want: "/r/etc/conf"},
		{name: "file", in: "/etc/conf/a.yaml", want: "/r/etc/conf/a.yaml"},
		{name: "nested mount", in: "/etc/conf/sub/x", want: "/r/etc/conf/sub/x"},
		{name: "flag", in: "--conf=/etc/conf/a", want: "--conf=/r/etc/conf/a"},
		{name: "script", in: "cat /etc/conf/a; ls /etc/config", want: "cat /r/etc/conf/a; ls /etc/config"},
		{name: "other path", in: "/x/etc/conf", want: "/x/etc/conf"},
	} {
		if got := rewrite(tc.in, mounts, "/r"); got != tc.want {
			t.Errorf("%s: rewrite(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
}

// TestPodFilesAndProbes: Secret (with items and a subPath mount), downward-API and emptyDir
// volumes and envFrom a Secret reach the container; a readiness probe decides readiness: the pod
// whose probe succeeds goes Ready, the one whose probe fails stays Running and not Ready.
func TestPodFilesAndProbes(t *testing.T) {
	t.Parallel()
	c := StartAPIServer(t)
	n := StartNode(t, c, NodeOptions{})
	ctx := context.Background()
	if _, err := c.Client.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds"},
		StringData: map[string]string{"user": "alice", "password": "s3cret"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	script := `echo "user=$(cat /etc/creds/login) labels=$(cat /etc/pod/labels) env=$PREFIX_password"
echo sub > /var/sub/x && echo scratch > /scratch/file
exec sleep 600`
	p := podWith("files", script, corev1.RestartPolicyAlways)
	ctr := &p.Spec.Containers[0]
	ctr.EnvFrom = []corev1.EnvFromSource{{Prefix: "PREFIX_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}}}
	ctr.VolumeMounts = []corev1.VolumeMount{
		{Name: "creds", MountPath: "/etc/creds"},
		{Name: "pod", MountPath: "/etc/pod"},
		{Name: "scratch", MountPath: "/scratch"},
		{Name: "scratch", MountPath: "/var/sub", SubPath: "sub"},
	}
	ctr.ReadinessProbe = &corev1.Probe{PeriodSeconds: 1, ProbeHandler: corev1.ProbeHandler{
		Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "test -f $KUBETEST_ROOT/scratch/file"}}}}
	p.Spec.Volumes = []corev1.Volume{
		{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: "creds", Items: []corev1.KeyToPath{{Key: "user", Path: "login"}}}}},
		{Name: "pod", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
			Items: []corev1.DownwardAPIVolumeFile{{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	never := podWith("never-ready", "exec sleep 600", corev1.RestartPolicyAlways)
	never.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 1, FailureThreshold: 1, ProbeHandler: corev1.ProbeHandler{
		TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(1)}}}
	create(t, c, never)
	create(t, c, p)

	waitPod(t, c, "files", "ready (its probe found the file)", ready)
	want := `user=alice labels=app="kubetest" env=s3cret`
	testenv.Eventually(t, 10*time.Second, "the container's output", func() bool {
		return strings.Contains(n.Logs("default", "files", "main"), want)
	})
	if b, err := os.ReadFile(filepath.Join(n.PodDir("default", "files"), "volumes", "scratch", "sub", "x")); err != nil || string(b) != "sub\n" {
		t.Errorf("a file written under the subPath mount: %q, %v; want it in the volume's sub/", b, err)
	}
	// files started after never-ready and was ready only after a probe period: never-ready's
	// probe has failed by now.
	got := waitPod(t, c, "never-ready", "running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if ready(got) {
		t.Errorf("a pod whose readiness probe fails is Ready")
	}
}
