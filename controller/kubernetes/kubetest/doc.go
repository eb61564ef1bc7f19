// Package kubetest runs a real Kubernetes control plane for tests, without containers: etcd and
// kube-apiserver as local processes (StartAPIServer), and a test node (StartNode) that does what
// the scheduler and a kubelet would do for the pods of a test.
//
// # The API server
//
// StartAPIServer runs Debian's etcd and a kube-apiserver binary that .ci/kube-apiserver builds
// from the k8s.io/kubernetes module (cached by version outside the clone; $STRATA_KUBE_APISERVER
// names another). Each test gets its own etcd and API server on free loopback ports, with its
// data, certificates and logs in a temporary directory. No controller-manager or scheduler runs:
// the ServiceAccount admission plugin is off (nothing would create the default ServiceAccount),
// Services get their ClusterIP and NodePort from the API server itself, and nothing garbage
// collects, creates endpoints or evicts. Tests talk to it with Cluster.Client, Cluster.Config or
// kubectl (Cluster.Kubectl, with a kubeconfig file).
//
// # The test node
//
// A Node registers a Node object (Ready, with its own loopback address as InternalIP) and watches
// pods with one informer. It schedules: a pod with no spec.nodeName whose nodeSelector the node's
// labels satisfy, and whose tolerations tolerate the node's taints, is bound to it with the
// binding subresource, the scheduler's call (with several nodes, the first binding wins and the
// others get a conflict). Pods bound to it by name run on it.
//
// A container runs as a local process group: its command is the container's command and args, or
// for what the image would give (the entrypoint and default arguments), the NodeOptions.Images
// entry of its image; an image the node does not know leaves the container waiting with reason
// ErrImagePull. The environment is the container's env (values, $(VAR) references, fieldRef on
// metadata.name, metadata.namespace, metadata.uid, labels, annotations, spec.nodeName,
// spec.serviceAccountName, status.podIP and status.hostIP; configMapKeyRef, secretKeyRef; envFrom)
// over a small base (PATH, HOME, HOSTNAME, KUBERNETES_SERVICE_HOST and _PORT, KUBETEST_ROOT,
// KUBETEST_POD_IP and NodeOptions.Env), not the test's environment. There is no network
// namespace: a test image's server listens on $KUBETEST_POD_IP, not on 0.0.0.0.
//
// Files: each pod has a directory under the node's; each volume (configMap, secret, downwardAPI,
// projected of those, emptyDir, hostPath) is materialized there, and each volumeMount's
// mountPath becomes a symbolic link at rootfs/<mountPath> (to the volume, or its subPath). There
// is no chroot, so a mountPath in the container's command, args and env values is rewritten to
// that link; a program that builds paths itself can prefix $KUBETEST_ROOT (the rootfs directory).
// The process starts in rootfs/<workingDir> when the container names one, else in rootfs.
//
// Each pod gets its own loopback address (127.x.y.z, from a range no two nodes of a test binary
// share), as the local driver gives its members; hostNetwork pods get the node's. The node
// reports what a kubelet reports: pod IP, phase, the PodScheduled, Initialized, ContainersReady
// and Ready conditions, and each container's state (waiting, running, terminated with exit code
// and reason), last state, readiness and restart count. Readiness probes (exec, tcpSocket,
// httpGet) are run; other probes, lifecycle hooks and init containers are not. The restart
// policy is followed: a container that exits is restarted under Always (any exit) and OnFailure
// (a failing exit) after a back-off doubling from NodeOptions.BackOff up to MaxBackOff, during
// which it is waiting with reason CrashLoopBackOff; under Never the pod ends Succeeded or Failed.
//
// Services: the node does what kube-proxy does for NodePort (and LoadBalancer) Services of the
// cluster, whichever node their pods run on: it listens on its own address at each node port
// (Node.NodePortAddr) and forwards every TCP connection to one of the Service's ready endpoints,
// round robin (the pods of its namespace that its selector matches, Running, Ready and not being
// deleted, at the port's targetPort, read from the pod informer at each connection). With no
// ready endpoint the connection is closed. A changed Service reopens its ports; a deleted one
// closes them and its connections. ClusterIP addresses are not served: nothing routes the service
// CIDR on the host.
//
// A container's process runs in a session of its own, which holds every process it starts (in
// whatever process group), as a PID namespace holds a container's. Deletion is the kubelet's and
// the container runtime's: when a pod gets its deletion timestamp, the node sends SIGTERM to each
// container's main process only (PID 1 of a container; Node.TermSent says when), waits up to the
// pod's deletion grace period for it to exit, sends SIGKILL to every process of the container,
// reports the terminated containers and then removes the object (delete with grace period 0 and
// the pod's UID as precondition). A pod removed outright (grace period 0) is killed at once. When
// a main process ends, the rest of its container is killed too. Node.PodLog reads a container's
// log also after its pod is gone.
//
// # Concurrency
//
// One informer goroutine hands pod events to the node, which keeps one goroutine per running pod
// (its containers, restarts, probes and status) and one per container process; another hands
// Service events to the node ports, which run one accept loop per port and one goroutine per
// forwarded connection and direction. Node.mu guards the map of pods; each pod's state is guarded
// by its own mutex, taken after Node.mu. The node ports' mutex guards the listeners and the
// forwarded counts; each port's own, taken after it, guards the port's open connections.
//
// The package is imported by tests only (internal/depcheck keeps it so).
package kubetest
