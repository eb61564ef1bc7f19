package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	kclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
)

// Type is the IaaS type this driver serves: a cartridge's iaasProvider entry and a network
// partition's provider name it.
const Type = "kubernetes"

// Properties of a Kubernetes cluster definition that say how to reach its API server. Without
// kubeconfig and inCluster the client's default loading rules apply ($KUBECONFIG, ~/.kube/config).
const (
	PropertyKubeconfig = "kubeconfig" // path of a kubeconfig file
	PropertyContext    = "context"    // its context; empty: the current one
	PropertyInCluster  = "inCluster"  // "true": the service account Strata runs with
	PropertyNamespace  = "namespace"  // where members run; default "default"
)

// Defaults of Options.
const (
	DefaultGracePeriod   = 30 * time.Second
	DefaultStartTimeout  = 5 * time.Minute
	DefaultDeleteTimeout = 30 * time.Second
	DefaultSyncTimeout   = 30 * time.Second
	DefaultQPS           = 200
	DefaultBurst         = 400
)

// Clusters gives the driver the Kubernetes cluster definitions (the manager's
// /api/kubernetesClusters).
type Clusters interface {
	KubernetesCluster(id string) (model.KubernetesCluster, bool)
	KubernetesClusters() []model.KubernetesCluster
}

// Options configure a Driver.
type Options struct {
	// Clusters are the Kubernetes cluster definitions partitions name. Required.
	Clusters Clusters
	// GracePeriod is a pod's termination grace period unless the cartridge's gracePeriod
	// property sets one.
	GracePeriod time.Duration
	// StartTimeout bounds how long Start waits for a pod's IP.
	StartTimeout time.Duration
	// DeleteTimeout is how long Terminate waits, beyond the grace period, for a pod to be gone.
	DeleteTimeout time.Duration
	// SyncTimeout bounds how long a call waits for a cluster's first pod list (an unreachable
	// API server must not hold up the controller's start); the informer keeps trying.
	SyncTimeout time.Duration
	// QPS and Burst limit the requests to each API server (client-go's default of 5 would take
	// 40 s to start 100 members).
	QPS   float32
	Burst int
	// Logger receives the driver's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock of exit reports; default time.Now.
	Now func() time.Time
}

// Driver runs every member as a pod on the Kubernetes cluster its partition names. It
// implements controller.Driver and controller.Watcher.
type Driver struct {
	opts  Options
	log   *slog.Logger
	exits controller.Reports[controller.Exit]        // for Watch
	gone  controller.Reports[controller.ServiceGone] // for WatchServices

	// bg counts the deletes that run in the background (of an ended pod, of the Secret of a pod
	// deleted outside Strata); Close waits for them. Add is called with mu held and closed false.
	bg sync.WaitGroup

	mu     sync.Mutex // guards everything below and every conn's maps
	conns  map[string]*conn
	closed bool
}

var (
	_ controller.Driver         = (*Driver)(nil)
	_ controller.Watcher        = (*Driver)(nil)
	_ controller.ServiceWatcher = (*Driver)(nil)
)

// conn is one Kubernetes cluster: its client and its one pod informer (label-selected on
// LabelManagedBy, in its namespace).
type conn struct {
	id, namespace string
	fingerprint   string                  // the definition's connection properties, to notice a change
	host          string                  // the API server's URL
	def           model.KubernetesCluster // the latest definition, guarded by Driver.mu
	client        kclient.Interface
	pods          cache.SharedIndexInformer
	svcs          cache.SharedIndexInformer // Strata's Services, to notice those that go
	stop          chan struct{}
	ready         chan struct{} // closed once the informer has synced
	syncErr       error         // set before ready is closed

	svcMu    sync.Mutex                         // serialises the creation and removal of services
	services map[string]model.KubernetesService // by service name, guarded by svcMu
	starting map[string]int                     // starts in progress by Strata cluster, guarded by svcMu

	// Guarded by Driver.mu, by pod name.
	terminating map[string]bool
	reported    map[string]bool
	waiters     map[string]chan struct{} // closed at the pod's next change
}

// New checks the options. Clusters are connected to when first used.
func New(o Options) (*Driver, error) {
	if o.Clusters == nil {
		return nil, errors.New("kubernetes: no Clusters")
	}
	if o.GracePeriod <= 0 {
		o.GracePeriod = DefaultGracePeriod
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.DeleteTimeout <= 0 {
		o.DeleteTimeout = DefaultDeleteTimeout
	}
	if o.SyncTimeout <= 0 {
		o.SyncTimeout = DefaultSyncTimeout
	}
	if o.QPS <= 0 {
		o.QPS = DefaultQPS
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Driver{opts: o, log: o.Logger.With("component", "kubernetes_driver"),
		conns: map[string]*conn{}}, nil
}

// Close stops every informer and waits, up to DeleteTimeout, for the deletes running in the
// background to reach their API server: an ended pod deleted as Strata stops is not left behind.
// Watch calls it when its context ends.
func (d *Driver) Close() {
	d.mu.Lock()
	d.closed = true
	for id, c := range d.conns {
		close(c.stop)
		delete(d.conns, id)
	}
	d.mu.Unlock()
	done := make(chan struct{})
	go func() { d.bg.Wait(); close(done) }()
	timer := time.NewTimer(d.opts.DeleteTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		d.log.Warn("background deletes still running as the driver closes; left to the cluster", "waited", d.opts.DeleteTimeout)
	}
}

// backgroundLocked runs a delete on its own goroutine, which Close waits for; nothing starts once
// the driver is closed. Driver.mu is held.
func (d *Driver) backgroundLocked(del func()) {
	if d.closed {
		return
	}
	d.bg.Add(1)
	go func() {
		defer d.bg.Done()
		del()
	}()
}

// RESTConfig is how the driver reaches a cluster's API server: in-cluster, or a kubeconfig
// (its path and context in the definition's properties, else the default loading rules).
func RESTConfig(def model.KubernetesCluster) (*rest.Config, error) {
	if v, _ := model.LookupProperty(def.Property, PropertyInCluster); v == "true" {
		return rest.InClusterConfig()
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path, _ := model.LookupProperty(def.Property, PropertyKubeconfig); path != "" {
		rules.ExplicitPath = path
	}
	ctxName, _ := model.LookupProperty(def.Property, PropertyContext)
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules,
		&clientcmd.ConfigOverrides{CurrentContext: ctxName}).ClientConfig()
}

func fingerprint(def model.KubernetesCluster) string {
	var b strings.Builder
	for _, p := range []string{PropertyInCluster, PropertyKubeconfig, PropertyContext, PropertyNamespace} {
		v, _ := model.LookupProperty(def.Property, p)
		b.WriteString(v + "\x00")
	}
	return b.String()
}

// conn returns the connection to a cluster, connecting (and syncing its informer) on first use
// or when the definition's connection properties changed.
func (d *Driver) conn(ctx context.Context, id string) (*conn, error) {
	def, ok := d.opts.Clusters.KubernetesCluster(id)
	if !ok {
		return nil, fmt.Errorf("kubernetes: no kubernetes cluster %q is defined", id)
	}
	fp := fingerprint(def)
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, errors.New("kubernetes: the driver is closed")
	}
	c := d.conns[id]
	if c != nil && c.fingerprint != fp {
		close(c.stop)
		c = nil
	}
	if c == nil {
		var err error
		if c, err = d.connect(def, fp); err != nil {
			delete(d.conns, id)
			d.mu.Unlock()
			return nil, err
		}
		d.conns[id] = c
	}
	c.def = def
	d.mu.Unlock()
	timer := time.NewTimer(d.opts.SyncTimeout)
	defer timer.Stop()
	select {
	case <-c.ready:
		return c, c.syncErr
	case <-timer.C:
		return nil, fmt.Errorf("kubernetes: cluster %s: no pod list from %s within %s", id, c.host, d.opts.SyncTimeout)
	case <-ctx.Done():
		return nil, fmt.Errorf("kubernetes: cluster %s: wait for the pod informer: %w", id, ctx.Err())
	}
}

// definition returns the latest definition of a connected cluster.
func (d *Driver) definition(c *conn) model.KubernetesCluster {
	d.mu.Lock()
	defer d.mu.Unlock()
	return c.def
}

// connect builds a cluster's client and starts its pod informer; mu is held.
func (d *Driver) connect(def model.KubernetesCluster, fp string) (*conn, error) {
	cfg, err := RESTConfig(def)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: cluster %s: %w", def.ClusterID, err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = d.opts.QPS, d.opts.Burst
	cfg.UserAgent = "strata"
	cfg.WarningHandler = warnings{d.log.With("cluster", def.ClusterID)}
	client, err := kclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: cluster %s: %w", def.ClusterID, err)
	}
	ns, _ := model.LookupProperty(def.Property, PropertyNamespace)
	if ns == "" {
		ns = "default"
	}
	c := &conn{id: def.ClusterID, namespace: ns, fingerprint: fp, host: cfg.Host, def: def, client: client,
		stop: make(chan struct{}), ready: make(chan struct{}), services: map[string]model.KubernetesService{}, starting: map[string]int{},
		terminating: map[string]bool{}, reported: map[string]bool{}, waiters: map[string]chan struct{}{}}
	selector := labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedBy}).String()
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
	c.pods = factory.Core().V1().Pods().Informer()
	if err := c.pods.AddIndexers(podIndexers); err != nil {
		return nil, fmt.Errorf("kubernetes: cluster %s: %w", def.ClusterID, err)
	}
	if _, err := c.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { d.podChanged(c, obj) },
		UpdateFunc: func(_, obj any) { d.podChanged(c, obj) },
		DeleteFunc: func(obj any) { d.podDeleted(c, obj) },
	}); err != nil {
		return nil, fmt.Errorf("kubernetes: cluster %s: %w", def.ClusterID, err)
	}
	c.svcs = factory.Core().V1().Services().Informer()
	if _, err := c.svcs.AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) { d.serviceDeleted(c, obj) },
	}); err != nil {
		return nil, fmt.Errorf("kubernetes: cluster %s: %w", def.ClusterID, err)
	}
	go c.pods.Run(c.stop)
	go c.svcs.Run(c.stop)
	go func() {
		if !cache.WaitForCacheSync(c.stop, c.pods.HasSynced) {
			c.syncErr = fmt.Errorf("kubernetes: cluster %s: the pod informer stopped before it synced", def.ClusterID)
		}
		close(c.ready)
	}()
	d.log.Info("watching the pods of a kubernetes cluster", "cluster", def.ClusterID, "namespace", ns, "host", cfg.Host)
	return c, nil
}

// indexCluster indexes the informer's pods by their Strata cluster (the LabelCluster value), so
// that Terminate learns whether a cluster has pods left without a scan of every pod.
const indexCluster = "cluster"

var podIndexers = cache.Indexers{indexCluster: func(obj any) ([]string, error) {
	if p, ok := obj.(*corev1.Pod); ok {
		return []string{p.Labels[LabelCluster]}, nil
	}
	return nil, nil
}}

// warnings sends the API server's warnings (e.g. that a pod name with dots is not a DNS label)
// to the driver's log at debug level instead of klog's standard error.
type warnings struct{ log *slog.Logger }

func (w warnings) HandleWarningHeader(_ int, _ string, message string) {
	w.log.Debug("the API server warned", "warning", message)
}

// instanceID is "<kubernetes cluster>/<namespace>/<pod>".
func instanceID(c *conn, pod string) string {
	return model.KubernetesInstanceID(c.id, c.namespace, pod)
}

func parseInstanceID(id string) (cluster, namespace, pod string, err error) {
	cluster, namespace, pod, ok := model.ParseKubernetesInstanceID(id)
	if !ok {
		return "", "", "", fmt.Errorf("kubernetes: instance id %q is not <cluster>/<namespace>/<pod>: %w", id, controller.ErrInstanceNotFound)
	}
	return cluster, namespace, pod, nil
}

// podIPs are a pod's addresses, the primary first.
func podIPs(p *corev1.Pod) []string {
	var out []string
	for _, ip := range p.Status.PodIPs {
		out = append(out, ip.IP)
	}
	if len(out) == 0 && p.Status.PodIP != "" {
		out = []string{p.Status.PodIP}
	}
	return out
}

// List returns the running pods of every defined cluster, so a restarted controller adopts them
// (and terminates those no member owns). A cluster that cannot be reached fails the list.
func (d *Driver) List(ctx context.Context) ([]controller.Started, error) {
	var out []controller.Started
	var errs []error
	for _, def := range d.opts.Clusters.KubernetesClusters() {
		c, err := d.conn(ctx, def.ClusterID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d.mu.Lock()
		for _, obj := range c.pods.GetStore().List() {
			p := obj.(*corev1.Pod)
			if c.terminating[p.Name] || c.reported[p.Name] || p.DeletionTimestamp != nil ||
				p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
				continue
			}
			out = append(out, controller.Started{InstanceID: instanceID(c, p.Name),
				MemberID: p.Annotations[LabelMember], PrivateIPs: podIPs(p)})
		}
		d.mu.Unlock()
	}
	return out, errors.Join(errs...)
}

// clusterOf is the Kubernetes cluster a partition names.
func clusterOf(in *controller.Instance) (string, error) {
	if in.Partition != nil {
		if v, _ := model.LookupProperty(in.Partition.Property, PropertyCluster); v != "" {
			return v, nil
		}
	}
	return "", fmt.Errorf("kubernetes: partition %s of network partition %s names no kubernetes cluster (property %q)",
		in.PartitionID, in.NetworkPartitionID, PropertyCluster)
}

func graceSeconds(d time.Duration) int64 { return int64(d.Round(time.Second) / time.Second) }

// quoteReason keeps an exit reason to one line.
func quoteReason(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
