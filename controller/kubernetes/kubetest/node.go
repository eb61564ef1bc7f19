package kubetest

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/strata-paas/strata/internal/testenv"
)

// Image is what a container image would give a container that does not name its command: the
// entrypoint, its default arguments, environment and working directory.
type Image struct {
	Entrypoint []string
	Cmd        []string
	Env        []string // KEY=VALUE, under the container's env
	WorkingDir string
}

// NodeOptions configure a test node. The zero value is a node named kubetest-node-N with no
// labels, no taints and no images.
type NodeOptions struct {
	// Name is the Node's name (default kubetest-node-N).
	Name string
	// Labels are the Node's labels, beside kubernetes.io/hostname, kubernetes.io/os and
	// kubernetes.io/arch; a pod's nodeSelector is matched against all of them.
	Labels map[string]string
	// Taints are the Node's taints; only a pod that tolerates them is scheduled here.
	Taints []corev1.Taint
	// Images maps an image name, as pods write it, to its entrypoint; see Image.
	Images map[string]Image
	// Env is added to every container's base environment (KEY=VALUE), under the pod's env.
	Env []string
	// BackOff is the first delay before a container that exited is restarted (default 1 s; the
	// kubelet's is 10 s); it doubles at each exit up to MaxBackOff (default 20 s; the kubelet's
	// is 5 min) and starts again once a container ran for twice MaxBackOff.
	BackOff, MaxBackOff time.Duration
	// Logger receives the node's debug lines (default: the test's log at warning level).
	Logger *slog.Logger
}

// Node is a test node: a registered Node that schedules and runs pods as local processes. See
// the package comment for what it does and does not do.
type Node struct {
	// Name is the Node's name; IP its address (the InternalIP), and the first of its range: its
	// pods get the next ones.
	Name string
	IP   string
	// Dir holds one directory per pod (namespace_name_uid) with its volumes, rootfs and the
	// containers' logs (<container>.log).
	Dir string

	c      *Cluster
	client kubernetes.Interface
	opts   NodeOptions
	log    *slog.Logger
	ctx    context.Context // the node's life; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	block  netip.Prefix
	ports  *nodePorts // what kube-proxy does for NodePort Services

	mu      sync.Mutex
	pods    map[types.UID]*pod
	ran     map[types.UID]bool // pods whose run ended: a pod runs once, as on a kubelet
	binding map[types.UID]bool
	ips     map[netip.Addr]bool
	closed  bool
}

// StartNode registers a Ready Node in c and starts running the pods scheduled to it. The node
// stops (its processes killed, the Node object removed) at the end of the test.
func StartNode(t testing.TB, c *Cluster, opts NodeOptions) *Node {
	t.Helper()
	block := nextBlock()
	if opts.Name == "" {
		opts.Name = fmt.Sprintf("kubetest-node-%d", block.Addr().As4()[1])
	}
	if opts.BackOff <= 0 {
		opts.BackOff = time.Second
	}
	if opts.MaxBackOff <= 0 {
		opts.MaxBackOff = 20 * time.Second
	}
	if opts.MaxBackOff < opts.BackOff {
		opts.MaxBackOff = opts.BackOff
	}
	log := opts.Logger
	if log == nil {
		log = testenv.Logger(t, slog.LevelWarn)
	}
	dir := filepath.Join(t.TempDir(), opts.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		Name: opts.Name, IP: block.Addr().Next().String(), Dir: dir,
		c: c, client: c.Client, opts: opts, log: log.With("component", "kubetest", "node", opts.Name),
		ctx: ctx, cancel: cancel, block: block,
		pods: map[types.UID]*pod{}, ran: map[types.UID]bool{}, binding: map[types.UID]bool{}, ips: map[netip.Addr]bool{},
	}
	n.ips[block.Addr()] = true
	n.ips[block.Addr().Next()] = true
	if err := n.register(ctx); err != nil {
		cancel()
		t.Fatalf("kubetest: register node %s: %v", n.Name, err)
	}
	t.Cleanup(n.Close)

	factory := informers.NewSharedInformerFactory(c.Client, 0)
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { n.observe(obj) },
		UpdateFunc: func(_, obj any) { n.observe(obj) },
		DeleteFunc: n.forget,
	}); err != nil {
		t.Fatalf("kubetest: pod informer: %v", err)
	}
	n.ports = newNodePorts(n, inf.GetStore())
	if _, err := factory.Core().V1().Services().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    n.ports.sync,
		UpdateFunc: func(_, obj any) { n.ports.sync(obj) },
		DeleteFunc: n.ports.remove,
	}); err != nil {
		t.Fatalf("kubetest: service informer: %v", err)
	}
	factory.Start(ctx.Done())
	synced := factory.WaitForCacheSync(ctx.Done())
	for typ, ok := range synced {
		if !ok {
			t.Fatalf("kubetest: node %s: %v informer did not sync", n.Name, typ)
		}
	}
	n.wg.Add(1)
	go func() { defer n.wg.Done(); <-ctx.Done(); factory.Shutdown() }()
	return n
}

// blocks hands out the /16 loopback blocks of the nodes of this test binary, from 127.100.0.0 on,
// away from the local driver's 127.0.x.y; the start depends on the process id so that test
// binaries running at the same time mostly differ.
var blocks struct {
	sync.Mutex
	next int
}

func nextBlock() netip.Prefix {
	blocks.Lock()
	defer blocks.Unlock()
	if blocks.next == 0 {
		blocks.next = os.Getpid() % 150
	}
	b := 100 + blocks.next%150
	blocks.next++
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(b), 0, 0}), 16)
}

// register creates the Node object, Ready, with its capacity and addresses.
func (n *Node) register(ctx context.Context) error {
	labels := map[string]string{
		"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": runtime.GOARCH,
	}
	for k, v := range n.opts.Labels {
		labels[k] = v
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("65000"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: n.opts.Taints},
	}
	created, err := n.client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	now := metav1.Now()
	created.Status = corev1.NodeStatus{
		Capacity: capacity, Allocatable: capacity,
		Phase: corev1.NodeRunning,
		Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubetest node is ready", LastHeartbeatTime: now, LastTransitionTime: now},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", LastHeartbeatTime: now, LastTransitionTime: now},
			{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", LastHeartbeatTime: now, LastTransitionTime: now},
			{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", LastHeartbeatTime: now, LastTransitionTime: now},
		},
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: n.IP}, {Type: corev1.NodeHostName, Address: n.Name}},
		NodeInfo: corev1.NodeSystemInfo{
			KubeletVersion: Version, OperatingSystem: "linux", Architecture: runtime.GOARCH,
			ContainerRuntimeVersion: "kubetest://1",
		},
	}
	if _, err := n.client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	return nil
}

// Close stops the node: the informer ends, every container's process group is killed and the
// Node object is removed. The pods stay in the API server, as when a machine goes away.
func (n *Node) Close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	pods := make([]*pod, 0, len(n.pods))
	for _, p := range n.pods {
		pods = append(pods, p)
	}
	n.mu.Unlock()
	n.cancel()
	for _, p := range pods {
		p.kill()
	}
	n.wg.Wait()
	if n.ports != nil {
		n.ports.close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.client.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{})
}

// observe handles a pod the informer added or updated: binds an unscheduled pod that fits, and
// starts, updates or finishes deleting one bound to this node.
func (n *Node) observe(obj any) {
	in, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	terminal := in.Status.Phase == corev1.PodSucceeded || in.Status.Phase == corev1.PodFailed
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	switch in.Spec.NodeName {
	case "":
		if in.DeletionTimestamp != nil || terminal || n.binding[in.UID] || !n.fits(in) {
			return
		}
		n.binding[in.UID] = true
		n.wg.Add(1)
		go func() { defer n.wg.Done(); n.bind(in) }()
	case n.Name:
		delete(n.binding, in.UID)
		if p := n.pods[in.UID]; p != nil {
			p.observe(in)
			return
		}
		if in.DeletionTimestamp != nil {
			// Deleted before it ran here (or before this node started): nothing to stop.
			n.wg.Add(1)
			go func() { defer n.wg.Done(); n.finishDelete(in.Namespace, in.Name, in.UID) }()
			return
		}
		if terminal || n.ran[in.UID] {
			// Ended here: an update that was on its way when it ended does not start it again.
			return
		}
		ip := n.IP
		if !in.Spec.HostNetwork {
			a, err := n.allocIPLocked()
			if err != nil {
				n.log.Warn("no address left for a pod", "pod", in.Namespace+"/"+in.Name, "error", err)
				return
			}
			ip = a.String()
		}
		p := newPod(n, in, ip)
		n.pods[in.UID] = p
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			p.run()
			n.mu.Lock()
			delete(n.pods, in.UID)
			n.ran[in.UID] = true
			if a, err := netip.ParseAddr(p.ip); err == nil && !in.Spec.HostNetwork {
				delete(n.ips, a)
			}
			n.mu.Unlock()
		}()
	}
}

// forget handles a pod removed from the API server: its processes are killed at once.
func (n *Node) forget(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	in, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	n.mu.Lock()
	p := n.pods[in.UID]
	delete(n.binding, in.UID)
	delete(n.ran, in.UID)
	n.mu.Unlock()
	if p != nil {
		p.removed()
	}
}

// fits reports whether the pod's nodeSelector matches the node's labels and its tolerations
// tolerate the node's NoSchedule and NoExecute taints. Node affinity is not looked at.
func (n *Node) fits(in *corev1.Pod) bool {
	for k, v := range in.Spec.NodeSelector {
		if n.label(k) != v {
			return false
		}
	}
	for _, taint := range n.opts.Taints {
		if taint.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		tolerated := false
		for _, tol := range in.Spec.Tolerations {
			if tol.ToleratesTaint(&taint) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			return false
		}
	}
	return true
}

func (n *Node) label(k string) string {
	switch k {
	case "kubernetes.io/hostname":
		return n.Name
	case "kubernetes.io/os":
		return "linux"
	case "kubernetes.io/arch":
		return runtime.GOARCH
	}
	return n.opts.Labels[k]
}

// bind binds the pod to this node, as the scheduler does. A conflict (another node was first)
// or a pod already gone is not an error.
func (n *Node) bind(in *corev1.Pod) {
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: in.Name, Namespace: in.Namespace, UID: in.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: n.Name},
	}
	err := n.client.CoreV1().Pods(in.Namespace).Bind(n.ctx, b, metav1.CreateOptions{})
	if err != nil {
		n.mu.Lock()
		delete(n.binding, in.UID)
		n.mu.Unlock()
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && n.ctx.Err() == nil {
			n.log.Warn("could not bind a pod", "pod", in.Namespace+"/"+in.Name, "error", err)
		}
	}
}

// finishDelete removes a pod object whose containers are stopped: a delete with grace period 0
// and the pod's UID as precondition, so that a new pod of the same name is not touched.
func (n *Node) finishDelete(ns, name string, uid types.UID) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := n.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		n.log.Warn("could not finish deleting a pod", "pod", ns+"/"+name, "error", err)
	}
}

// allocIPLocked returns the lowest free address of the node's block.
func (n *Node) allocIPLocked() (netip.Addr, error) {
	for a := n.block.Addr(); n.block.Contains(a); a = a.Next() {
		if b := a.As4(); b[3] == 0 || b[3] == 255 {
			continue
		}
		if !n.ips[a] {
			n.ips[a] = true
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no free address in %s", n.block)
}

// find returns the pod of that namespace and name running on the node.
func (n *Node) find(ns, name string) *pod {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.pods {
		if p.ns == ns && p.name == name {
			return p
		}
	}
	return nil
}

// Logs returns what the container of the pod wrote to its standard output and error, over all
// its runs; "" when the pod does not run here.
func (n *Node) Logs(namespace, pod, container string) string {
	p := n.find(namespace, pod)
	if p == nil {
		return ""
	}
	b, _ := os.ReadFile(filepath.Join(p.dir, container+".log"))
	return string(b)
}

// PodDir returns the directory of the pod on the node ("" when it does not run here): volumes/,
// rootfs/<container>/ and <container>.log.
func (n *Node) PodDir(namespace, pod string) string {
	p := n.find(namespace, pod)
	if p == nil {
		return ""
	}
	return p.dir
}

// Kill sends SIGKILL to the process group of the container of the pod, as a crash would; the
// node then reports the exit and follows the pod's restart policy. It fails the test when the
// container does not run.
func (n *Node) Kill(t testing.TB, namespace, pod, container string) {
	t.Helper()
	p := n.find(namespace, pod)
	if p == nil {
		t.Fatalf("kubetest: pod %s/%s does not run on node %s", namespace, pod, n.Name)
	}
	if err := p.signal(container); err != nil {
		t.Fatalf("kubetest: kill %s/%s/%s: %v", namespace, pod, container, err)
	}
}
