// Package kubernetes is the `kubernetes` IaaS driver: every member is a pod on the Kubernetes
// cluster its partition names (the partition property "cluster", a definition of
// /api/kubernetesClusters that the Clusters option gives). One driver serves several clusters:
// each has its client and a pod and a Service informer, label-selected on
// app.kubernetes.io/managed-by=strata in the definition's namespace, started on first use.
//
// # Data flow
//
//	Start ──> Services of the cluster's ports (created once: NodePort in portRange, or ClusterIP)
//	      ──> Secret <pod> (launch-params) ──> Pod <pod> ──(informer)──> pod IP ──> Started
//	informer: pod Failed/Succeeded (a container ended; evicted) or deleted by someone else
//	      ──> Exit queued ──> Watch's report (the controller ends the member; the autoscaler
//	          replaces it, backing off when members keep ending soon after they start)
//	Terminate ──> delete the pod with its grace period ──(informer: gone)──> delete the Secret;
//	          the cluster's Services go with its last pod
//	service informer: a Service of Strata's deleted (by the driver or anyone) ──> forgotten (the
//	      cluster's next Start creates it again) ──> WatchServices' report (the controller drops it
//	      from the cluster's kubernetesServices)
//
// # Pods
//
// A pod is named after its member (the member id as a DNS name) and carries the labels
// LabelApplication, LabelCluster, LabelClusterInstance, LabelMember and LabelPartition (label-safe
// forms: a value too long or with other characters keeps a head and a hash) and the exact ids as
// annotations of the same names. Its one container, "cartridge", runs the iaasProvider entry's
// imageId with the payload keys as environment variables (model.Payload.Env), the payload as the file
// LaunchParamsFile (the Secret, mounted at LaunchParamsDir, named by $STRATA_LAUNCH_PARAMS) and
// the pod's IP as $STRATA_MEMBER_IP; its ports are the cartridge's port mappings. The properties
// of the cartridge's iaasProvider entry, each replaced by a partition property of the same name,
// set the command, cpu, memory, nodeSelector, tolerations, imagePullPolicy, serviceType and
// gracePeriod (see the Property constants). The cluster definition's payload_parameter.X
// properties replace the payload's X: containers may reach the broker and the CEP at other
// addresses than members on Strata's host.
//
// The restart policy is Never: a container that ends ends its member, as a crashed VM does, and
// the autoscaler decides about the replacement (with its crash-loop back-off), instead of the
// kubelet restarting it under a member id whose agent state is gone.
//
// # Restart and adoption
//
// Instance ids are "<kubernetes cluster>/<namespace>/<pod>". List reports the running pods of
// every defined cluster with the member id of their annotation; the controller adopts those it
// knows and terminates the others (a pod with Strata's labels that no member owns).
//
// # Concurrency and locks
//
// Start, Terminate and List may run concurrently. Driver.mu guards the connections, every
// connection's per-pod state (pods being terminated, exits reported, waiters); it is never held
// during an API call. The exits and the Services gone wait for Watch and WatchServices in
// controller.Reports queues of their own. A connection's svcMu serialises the creation and
// removal of its services. Informer handlers take mu briefly; deleting an ended
// pod (or the Secret of a pod deleted outside Strata) runs in its own goroutine, counted in
// Driver.bg: Close waits for them, up to DeleteTimeout, so that a stopping Strata does not leave
// an ended pod behind.
package kubernetes
