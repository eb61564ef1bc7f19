package kubetest

import (
	"context"
	"io"
	"net"
	"os"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/strata-paas/strata/internal/testenv"
)

// TestHelperNameServer is not a test: run by a pod of TestNodePortService (KUBETEST_NAME set), it
// listens on the pod's address at port 8080 and writes its name to every connection.
func TestHelperNameServer(t *testing.T) {
	name := os.Getenv("KUBETEST_NAME")
	if name == "" {
		t.Skip("a pod's server, run by TestNodePortService")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(os.Getenv("KUBETEST_POD_IP"), "8080"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(c, name)
		c.Close()
	}
}

// namePod is a pod labelled app=web that runs TestHelperNameServer; ready says whether its
// readiness probe (a TCP connection) is at the port it serves, or at one nobody serves.
func namePod(t *testing.T, name string, ready bool) *corev1.Pod {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	probe := int32(8080)
	if !ready {
		probe = 8081
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways, Containers: []corev1.Container{{
			Name: "main", Image: "name-server", Command: []string{exe, "-test.run=^TestHelperNameServer$"},
			Env:   []corev1.EnvVar{{Name: "KUBETEST_NAME", Value: name}},
			Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 8080}},
			ReadinessProbe: &corev1.Probe{PeriodSeconds: 1, FailureThreshold: 1, ProbeHandler: corev1.ProbeHandler{
				TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(probe)}}},
		}}},
	}
}

// nameAt connects to addr and returns what the server wrote ("" when the connection failed or
// was closed without a word).
func nameAt(addr string) string {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return ""
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	return string(b)
}

// TestNodePortService: the node serves a NodePort Service on its address at the node port, as
// kube-proxy would, and forwards to the Service's ready pods only: both ready pods get
// connections, the pod that is not ready gets none, a pod deleted leaves, and deleting the
// Service closes the port.
func TestNodePortService(t *testing.T) {
	t.Parallel()
	c := StartAPIServer(t)
	n := StartNode(t, c, NodeOptions{})
	ctx := context.Background()
	svc, err := c.Client.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("web")}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	np := svc.Spec.Ports[0].NodePort
	for _, p := range []*corev1.Pod{namePod(t, "a", true), namePod(t, "b", true), namePod(t, "unready", false)} {
		create(t, c, p)
	}
	waitPod(t, c, "a", "ready", ready)
	waitPod(t, c, "b", "ready", ready)
	waitPod(t, c, "unready", "running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })

	var addr string
	testenv.Eventually(t, 10*time.Second, "the node listens at the node port", func() bool {
		var ok bool
		addr, ok = n.NodePortAddr(np)
		return ok
	})
	if host, _, _ := net.SplitHostPort(addr); host != n.IP {
		t.Errorf("node port address %s, want the node's address %s", addr, n.IP)
	}
	var seen []string
	for range 20 {
		if name := nameAt(addr); name != "" && !slices.Contains(seen, name) {
			seen = append(seen, name)
		}
	}
	slices.Sort(seen)
	if !slices.Equal(seen, []string{"a", "b"}) {
		t.Errorf("pods reached through the node port: %v, want the two ready ones [a b]", seen)
	}
	if got := n.Forwarded(np); got != 20 {
		t.Errorf("connections forwarded from node port %d: %d, want 20", np, got)
	}

	if err := c.Client.CoreV1().Pods("default").Delete(ctx, "a", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "only b behind the node port", func() bool {
		for range 4 {
			if nameAt(addr) != "b" {
				return false
			}
		}
		return true
	})

	if err := c.Client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the node port closed", func() bool {
		_, ok := n.NodePortAddr(np)
		return !ok
	})
	if conn, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		conn.Close()
		t.Errorf("a connection to the deleted Service's node port %s succeeded", addr)
	}
}
