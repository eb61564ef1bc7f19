package lb

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// kubeServer is a stand-in for what answers at an address: a pod, or kube-proxy at a node port.
// It counts requests and the connections they came on.
type kubeServer struct {
	name        string
	srv         *httptest.Server
	port        int
	hits, conns atomic.Int64
}

// newKubeServer serves on host (127.0.0.x) at port (0: any); h, when set, answers instead of the
// server's name.
func newKubeServer(t *testing.T, name, host string, port int, h http.HandlerFunc) *kubeServer {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		t.Skipf("listen on %s: %v", host, err)
	}
	k := &kubeServer{name: name}
	k.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.hits.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		io.WriteString(w, name)
	}))
	k.srv.Listener.Close()
	k.srv.Listener = ln
	k.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			k.conns.Add(1)
		}
	}
	k.srv.Start()
	t.Cleanup(k.srv.Close)
	k.port = ln.Addr().(*net.TCPAddr).Port
	return k
}

// kubeMember is an Active member whose pod (its private IP and container port) is pod, on
// Kubernetes cluster k8s ("" for a member of another driver).
func kubeMember(id, instance, k8s string, pod *kubeServer, proxy int) *model.Member {
	m := &model.Member{ServiceName: "php", ClusterID: "c", MemberID: id, ClusterInstanceID: instance,
		NetworkPartitionID: "np1", DefaultPrivateIP: "127.0.0.1", InstanceID: id,
		PortMap: model.PortMap{proxy: {Protocol: "http", Value: model.Int(pod.port), Proxy: model.Int(proxy)}}}
	if k8s != "" {
		m.InstanceID = k8s + "/default/" + id
	}
	m.PushStatus(model.MemberActive)
	return m
}

func kubeCluster(services []model.KubernetesService, members ...*model.Member) *model.Cluster {
	c := &model.Cluster{ServiceName: "php", ClusterID: "c", HostNames: []string{"h"}, MemberMap: map[string]*model.Member{},
		IsKubernetesCluster: len(services) > 0, KubernetesServices: services}
	for _, m := range members {
		c.MemberMap[m.MemberID] = m
	}
	return c
}

// TestKubernetesNodePortService: the members of a cluster that a NodePort Service fronts are
// served through it, at every host's address and the node port in turn, never at their pod IPs;
// each request has its own connection (kube-proxy balances connections); a host that refuses is
// skipped. With KubernetesPodIPs the pods are served directly.
func TestKubernetesNodePortService(t *testing.T) {
	pod := newKubeServer(t, "pod", "127.0.0.1", 0, nil)
	host1 := newKubeServer(t, "host1", "127.0.0.1", 0, nil)
	host2 := newKubeServer(t, "host2", "127.0.0.2", host1.port, nil)
	refusing := "127.0.0.3" // nothing listens there at the node port
	svc := model.KubernetesService{ID: "s-c-80", ServiceType: "NodePort", PortalIP: "10.96.0.10",
		PublicIPs: []string{"127.0.0.1", "127.0.0.2", refusing}, Port: model.Int(host1.port),
		ContainerPort: model.Int(pod.port), KubernetesClusterID: "k8s"}
	topo := func(proxy int) *model.Topology {
		return topology(proxy, kubeCluster([]model.KubernetesService{svc},
			kubeMember("m1", "ci1", "k8s", pod, proxy), kubeMember("m2", "ci1", "k8s", pod, proxy)))
	}

	proxy := freePort(t)
	_, fb := startLB(t, Options{})
	fb.send(&model.CompleteTopologyEvent{Topology: topo(proxy)})
	const n = 12
	for range n {
		if code, body := get(t, proxy, "h"); code != 200 || body != "host1" && body != "host2" {
			t.Fatalf("through the Service: %d %q, want an answer from a host", code, body)
		}
	}
	if pod.hits.Load() != 0 || host1.hits.Load() == 0 || host2.hits.Load() == 0 || host1.hits.Load()+host2.hits.Load() != n {
		t.Errorf("hits: pod %d, host1 %d, host2 %d; want the %d requests spread over the hosts, none at the pod IP",
			pod.hits.Load(), host1.hits.Load(), host2.hits.Load(), n)
	}
	if c := host1.conns.Load() + host2.conns.Load(); c != n {
		t.Errorf("connections to the hosts: %d for %d requests, want one each", c, n)
	}

	direct := freePort(t)
	_, fb2 := startLB(t, Options{KubernetesPodIPs: true})
	fb2.send(&model.CompleteTopologyEvent{Topology: topo(direct)})
	before := host1.hits.Load() + host2.hits.Load()
	for range 4 {
		if code, body := get(t, direct, "h"); code != 200 || body != "pod" {
			t.Fatalf("with KubernetesPodIPs: %d %q, want the pod", code, body)
		}
	}
	if host1.hits.Load()+host2.hits.Load() != before {
		t.Errorf("with KubernetesPodIPs the hosts got requests")
	}
}

// TestKubernetesClusterIPService: a ClusterIP Service is reached at its portal IP and port; a
// member of the same cluster on another driver (its instance id names no Kubernetes cluster), or
// on a Kubernetes cluster without a Service for its port, is reached at its own address.
func TestKubernetesClusterIPService(t *testing.T) {
	pod := newKubeServer(t, "pod", "127.0.0.1", 0, nil)
	portal := newKubeServer(t, "portal", "127.0.0.1", 0, nil)
	other := newKubeServer(t, "other", "127.0.0.1", 0, nil)
	svc := model.KubernetesService{ID: "s-c-80", ServiceType: "ClusterIP", PortalIP: "127.0.0.1",
		Port: model.Int(portal.port), ContainerPort: model.Int(pod.port), KubernetesClusterID: "k8s"}
	proxy := freePort(t)
	_, fb := startLB(t, Options{})
	fb.send(&model.CompleteTopologyEvent{Topology: topology(proxy, kubeCluster([]model.KubernetesService{svc},
		kubeMember("k", "ci1", "k8s", pod, proxy), kubeMember("local", "ci1", "", other, proxy),
		kubeMember("k2", "ci1", "k8s-2", other, proxy)))})
	got := map[string]int{}
	for range 9 {
		code, body := get(t, proxy, "h")
		if code != 200 {
			t.Fatalf("%d %q", code, body)
		}
		got[body]++
	}
	if got["portal"] != 3 || got["other"] != 6 || pod.hits.Load() != 0 {
		t.Errorf("answers %v, pod hits %d; want 3 from the portal IP, 6 from the other members' own addresses, none at the pod IP",
			got, pod.hits.Load())
	}
}

// TestKubernetesServicesFromMemberInitialized: the Services reach the load balancer with the
// first member's MemberInitializedEvent, before it is Active: it is routed through them from its
// activation on, without waiting for a complete topology. A Service that fronts a port but has no
// address to reach takes the member out of the routes rather than sending to its pod IP.
func TestKubernetesServicesFromMemberInitialized(t *testing.T) {
	pod := newKubeServer(t, "pod", "127.0.0.1", 0, nil)
	host := newKubeServer(t, "host", "127.0.0.1", 0, nil)
	proxy := freePort(t)
	_, fb := startLB(t, Options{})
	fb.send(&model.CompleteTopologyEvent{Topology: topology(proxy)})
	fb.send(&model.ClusterCreatedEvent{Cluster: kubeCluster(nil)})
	svc := model.KubernetesService{ID: "s-c-80", ServiceType: "NodePort", PublicIPs: []string{"127.0.0.1"},
		Port: model.Int(host.port), ContainerPort: model.Int(pod.port), KubernetesClusterID: "k8s"}
	fb.send(&model.MemberInitializedEvent{ServiceName: "php", ClusterID: "c", ClusterInstanceID: "ci1", MemberID: "m1",
		InstanceID: "k8s/default/m1", DefaultPrivateIP: "127.0.0.1", KubernetesServices: []model.KubernetesService{svc}})
	fb.send(&model.MemberActivatedEvent{ServiceName: "php", ClusterID: "c", ClusterInstanceID: "ci1", MemberID: "m1",
		PortMap: model.PortMap{proxy: {Protocol: "http", Value: model.Int(pod.port), Proxy: model.Int(proxy)}}})
	if code, body := get(t, proxy, "h"); code != 200 || body != "host" {
		t.Fatalf("after activation: %d %q, want the node port's answer", code, body)
	}

	// The hosts are gone from the definition: nowhere to send the member's requests.
	svc.PublicIPs = nil
	fb.send(&model.MemberInitializedEvent{ServiceName: "php", ClusterID: "c", ClusterInstanceID: "ci1", MemberID: "m2",
		InstanceID: "k8s/default/m2", DefaultPrivateIP: "127.0.0.1", KubernetesServices: []model.KubernetesService{svc}})
	if code, _ := get(t, proxy, "h"); code != http.StatusServiceUnavailable || pod.hits.Load() != 0 {
		t.Errorf("a Service without an address: %d, pod hits %d; want 503 and no request at the pod IP", code, pod.hits.Load())
	}
}

// TestKubernetesInFlightPerInstance: behind a Service the load balancer does not know which pod
// serves a request; it still takes turns over the Active members and counts each request against
// the cluster instance of the member whose turn it was, so the autoscaler gets in-flight counts
// per cluster instance in proportion to its members.
func TestKubernetesInFlightPerInstance(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	pod := newKubeServer(t, "pod", "127.0.0.1", 0, nil)
	host := newKubeServer(t, "host", "127.0.0.1", 0, func(w http.ResponseWriter, _ *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "done")
	})
	svc := model.KubernetesService{ID: "s-c-80", ServiceType: "NodePort", PublicIPs: []string{"127.0.0.1"},
		Port: model.Int(host.port), ContainerPort: model.Int(pod.port), KubernetesClusterID: "k8s"}
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	cep := &fakeCEP{}
	proxy := freePort(t)
	l, fb := startLB(t, Options{CEP: cep, Now: clock})
	fb.send(&model.CompleteTopologyEvent{Topology: topology(proxy, kubeCluster([]model.KubernetesService{svc},
		kubeMember("a", "ci1", "k8s", pod, proxy), kubeMember("b", "ci2", "k8s", pod, proxy)))})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { get(t, proxy, "h") })
	}
	for range 4 {
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			close(release)
			t.Fatal("the requests did not reach the Service's node port")
		}
	}
	mu.Lock()
	now = now.Add(15 * time.Second)
	mu.Unlock()
	if err := l.publishStats(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(release)
	wg.Wait()
	cep.mu.Lock()
	defer cep.mu.Unlock()
	got := map[string]float64{}
	for _, e := range cep.events {
		if s, ok := e.HealthSample(); ok {
			got[s.ClusterInstanceID] = s.Value
		}
	}
	if len(got) != 2 || got["ci1"] != 2 || got["ci2"] != 2 {
		t.Errorf("in flight per cluster instance %v, want 2 for each of ci1 and ci2", got)
	}
}

func TestKubernetesClusterOf(t *testing.T) {
	for _, tc := range []struct{ name, id, want string }{
		{name: "pod", id: "k8s-1/default/pod-a", want: "k8s-1"},
		{name: "member id", id: "app.web.php.domain1234"},
		{name: "too many parts", id: "a/b/c/d"},
		{name: "empty part", id: "a//c"},
		{name: "empty", id: ""},
	} {
		if got := kubernetesClusterOf(tc.id); got != tc.want {
			t.Errorf("%s: kubernetesClusterOf(%q) = %q, want %q", tc.name, tc.id, got, tc.want)
		}
	}
}
