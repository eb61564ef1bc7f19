package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
)

// Start ensures the services of the cluster's ports, creates the member's Secret
// (launch-params) and pod, and returns once the pod has an IP. A pod that fails first, or that
// has no IP within StartTimeout, is deleted and the start fails.
func (d *Driver) Start(ctx context.Context, in controller.Instance) (controller.Started, error) {
	if in.MemberID == "" {
		return controller.Started{}, errors.New("kubernetes: empty member id")
	}
	clusterID, err := clusterOf(&in)
	if err != nil {
		return controller.Started{}, err
	}
	c, err := d.conn(ctx, clusterID)
	if err != nil {
		return controller.Started{}, err
	}
	def := d.definition(c)
	s := &spec{in: in, namespace: c.namespace, clusterID: c.id, gracePeriod: graceSeconds(d.opts.GracePeriod)}
	// The cluster's payload parameters replace the platform's: containers may reach the broker
	// and the CEP at other addresses than the host's members.
	s.payload = append(model.Payload(nil), in.Payload...)
	for _, kv := range model.PayloadParameters(def.Property) {
		s.payload.Set(kv.Key, kv.Value)
	}
	pod, err := podFor(s)
	if err != nil {
		return controller.Started{}, err
	}
	services, err := d.ensureServices(ctx, c, &def, s)
	if err != nil {
		return controller.Started{}, err
	}
	defer func() {
		c.svcMu.Lock()
		c.starting[in.ClusterID]--
		c.svcMu.Unlock()
	}()
	secrets := c.client.CoreV1().Secrets(c.namespace)
	if _, err := secrets.Create(ctx, secretFor(s), metav1.CreateOptions{}); err != nil {
		return controller.Started{}, fmt.Errorf("kubernetes: create the launch-params secret of member %s: %w", in.MemberID, err)
	}
	if _, err := c.client.CoreV1().Pods(c.namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		d.deleteSecret(c, pod.Name)
		return controller.Started{}, fmt.Errorf("kubernetes: create the pod of member %s: %w", in.MemberID, err)
	}
	ips, err := d.waitForIP(ctx, c, pod.Name)
	if err != nil {
		d.mu.Lock()
		c.terminating[pod.Name] = true
		d.mu.Unlock()
		d.deletePod(c, pod.Name, 0)
		return controller.Started{}, fmt.Errorf("kubernetes: member %s: %w", in.MemberID, err)
	}
	d.log.Info("member pod started", "member_id", in.MemberID, "cluster", c.id, "pod", pod.Name, "ip", ips[0])
	return controller.Started{InstanceID: instanceID(c, pod.Name), MemberID: in.MemberID, PrivateIPs: ips,
		Services: services}, nil
}

// waitForIP waits, through the informer, until the pod has an IP; a pod that ends or goes first
// is an error.
func (d *Driver) waitForIP(ctx context.Context, c *conn, name string) ([]string, error) {
	timer := time.NewTimer(d.opts.StartTimeout)
	defer timer.Stop()
	for {
		ch := d.waiter(c, name)
		obj, exists, err := c.pods.GetStore().GetByKey(c.namespace + "/" + name)
		if err != nil {
			return nil, err
		}
		if exists {
			p := obj.(*corev1.Pod)
			if r, over := ended(p); over {
				return nil, fmt.Errorf("pod %s ended before it had an IP: %s", name, r)
			}
			if ips := podIPs(p); len(ips) > 0 {
				return ips, nil
			}
		}
		select {
		case <-ch:
		case <-timer.C:
			return nil, fmt.Errorf("pod %s has no IP after %s (is a node ready to run it?)", name, d.opts.StartTimeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// waiter returns a channel closed at the pod's next change.
func (d *Driver) waiter(c *conn, name string) chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	ch := c.waiters[name]
	if ch == nil {
		ch = make(chan struct{})
		c.waiters[name] = ch
	}
	return ch
}

// ensureServices creates the Service of each of the cartridge's ports that does not exist yet,
// and returns them all as the topology records them.
func (d *Driver) ensureServices(ctx context.Context, c *conn, def *model.KubernetesCluster, s *spec) ([]model.KubernetesService, error) {
	c.svcMu.Lock()
	defer c.svcMu.Unlock()
	c.starting[s.in.ClusterID]++ // Start decrements it once the pod is created or given up
	api := c.client.CoreV1().Services(c.namespace)
	var out []model.KubernetesService
	var ports []model.PortMapping
	if s.in.Cartridge != nil {
		ports = s.in.Cartridge.PortMapping
	}
	for _, pm := range ports {
		name := serviceName(s.in.ClusterID, pm)
		if ks, ok := c.services[name]; ok {
			out = append(out, ks)
			continue
		}
		typ, err := s.serviceType(pm)
		if err != nil {
			c.starting[s.in.ClusterID]--
			return nil, err
		}
		svc, err := api.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			svc, err = d.createService(ctx, c, def.PortRange, s, pm, typ)
		}
		if err != nil {
			c.starting[s.in.ClusterID]--
			return nil, fmt.Errorf("kubernetes: service %s of cluster %s: %w", name, s.in.ClusterID, err)
		}
		ks := record(c.id, def, svc, pm)
		c.services[name] = ks
		out = append(out, ks)
	}
	return out, nil
}

// createService creates a port's Service; a NodePort takes the first free port of the
// cluster's portRange (the API server chooses when there is none).
func (d *Driver) createService(ctx context.Context, c *conn, r *model.PortRange, s *spec, pm model.PortMapping, typ corev1.ServiceType) (*corev1.Service, error) {
	api := c.client.CoreV1().Services(c.namespace)
	if typ != corev1.ServiceTypeNodePort || r == nil {
		return api.Create(ctx, serviceFor(s, pm, typ, 0), metav1.CreateOptions{})
	}
	list, err := api.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	used := map[int32]bool{}
	for _, svc := range list.Items {
		for _, p := range svc.Spec.Ports {
			used[p.NodePort] = true
		}
	}
	var lastErr error
	for port := int32(r.Lower); port <= int32(r.Upper); port++ {
		if used[port] {
			continue
		}
		svc, err := api.Create(ctx, serviceFor(s, pm, typ, port), metav1.CreateOptions{})
		if apierrors.IsInvalid(err) {
			lastErr = err // taken by a service of another namespace, or outside the API server's range
			continue
		}
		return svc, err
	}
	if lastErr != nil {
		return nil, fmt.Errorf("no free node port in %d-%d: %w", r.Lower, r.Upper, lastErr)
	}
	return nil, fmt.Errorf("no free node port in %d-%d", r.Lower, r.Upper)
}

// record is a Service as the topology's kubernetesServices holds it. Port is the node port of a
// NodePort service (where the hosts serve it), else the service's port. A NodePort Service's
// publicIPs are the addresses of the cluster's hosts, where kube-proxy serves the node port (as
// Stratos listed its minions); the master's only when the definition lists no host (a
// single-machine cluster): the master is the API server's address, often not a node.
func record(clusterID string, def *model.KubernetesCluster, svc *corev1.Service, pm model.PortMapping) model.KubernetesService {
	ks := model.KubernetesService{ID: svc.Name, PortalIP: svc.Spec.ClusterIP, Protocol: pm.Protocol,
		ContainerPort: pm.Port, ServiceType: string(svc.Spec.Type), PortName: portName(pm), KubernetesClusterID: clusterID}
	if len(svc.Spec.Ports) > 0 {
		p := svc.Spec.Ports[0]
		ks.Port = model.Int(p.Port)
		if svc.Spec.Type == corev1.ServiceTypeNodePort && p.NodePort != 0 {
			ks.Port = model.Int(p.NodePort)
			hosts := def.KubernetesHosts
			if len(hosts) == 0 {
				hosts = []model.KubernetesHost{def.KubernetesMaster}
			}
			for _, h := range hosts {
				ip := h.PublicIPAddress
				if ip == "" {
					ip = h.PrivateIPAddress
				}
				if ip != "" && !slices.Contains(ks.PublicIPs, ip) {
					ks.PublicIPs = append(ks.PublicIPs, ip)
				}
			}
		}
	}
	return ks
}

// Terminate deletes the member's pod with its grace period (the kubelet sends SIGTERM, then
// SIGKILL) and its Secret, and returns once the pod is gone (or DeleteTimeout after its grace
// period).
func (d *Driver) Terminate(ctx context.Context, id string) error {
	clusterID, ns, name, err := parseInstanceID(id)
	if err != nil {
		return err
	}
	c, err := d.conn(ctx, clusterID)
	if err != nil {
		return err
	}
	if ns != c.namespace {
		return fmt.Errorf("kubernetes: instance %s: cluster %s now runs members in namespace %s: %w", id, clusterID, c.namespace, controller.ErrInstanceNotFound)
	}
	d.mu.Lock()
	c.terminating[name] = true
	d.mu.Unlock()
	grace := graceSeconds(d.opts.GracePeriod)
	var cluster string
	if obj, ok, _ := c.pods.GetStore().GetByKey(ns + "/" + name); ok {
		p := obj.(*corev1.Pod)
		if g := p.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = *g
		}
		cluster = p.Annotations[LabelCluster]
	}
	ch := d.waiter(c, name)
	err = c.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	if apierrors.IsNotFound(err) {
		d.deleteSecret(c, name)
		d.forget(c, name)
		return fmt.Errorf("kubernetes: pod %s: %w", id, controller.ErrInstanceNotFound)
	}
	if err != nil {
		d.mu.Lock()
		delete(c.terminating, name)
		d.mu.Unlock()
		return fmt.Errorf("kubernetes: delete pod %s: %w", id, err)
	}
	deadline := time.NewTimer(time.Duration(grace)*time.Second + d.opts.DeleteTimeout)
	defer deadline.Stop()
	for {
		if _, ok, _ := c.pods.GetStore().GetByKey(ns + "/" + name); !ok {
			break
		}
		select {
		case <-ch:
			ch = d.waiter(c, name)
		case <-deadline.C:
			d.log.Warn("pod still there after its grace period; left to the cluster", "pod", id)
			d.deleteSecret(c, name)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	d.deleteSecret(c, name) // the informer's delete handler forgets the pod
	d.log.Info("member pod deleted", "pod", id)
	if cluster != "" {
		d.removeServicesIfUnused(ctx, c, cluster)
	}
	return nil
}

// removeServicesIfUnused deletes the services of a Strata cluster when none of its pods is left
// and none is being started: its last member is gone (the application was undeployed).
func (d *Driver) removeServicesIfUnused(ctx context.Context, c *conn, clusterID string) {
	c.svcMu.Lock()
	defer c.svcMu.Unlock()
	if c.starting[clusterID] > 0 {
		return
	}
	delete(c.starting, clusterID)
	lv := labelValue(clusterID)
	if c.clusterHasPods(lv) {
		return
	}
	api := c.client.CoreV1().Services(c.namespace)
	list, err := api.List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedBy + "," + LabelCluster + "=" + lv})
	if err != nil {
		d.log.Warn("cannot list the services of a cluster without members", "cluster", c.id, "cluster_id", clusterID, "error", err)
		return
	}
	for _, svc := range list.Items {
		if err := api.Delete(ctx, svc.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			d.log.Warn("cannot delete the service of a cluster without members", "service", svc.Name, "error", err)
			continue
		}
		delete(c.services, svc.Name)
		d.log.Info("service of a cluster without members deleted", "service", svc.Name, "cluster_id", clusterID)
	}
}

// deletePod deletes a pod and its secret, within DeleteTimeout, after a failed start or an ended
// member.
func (d *Driver) deletePod(c *conn, name string, grace int64) {
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.DeleteTimeout)
	defer cancel()
	err := c.client.CoreV1().Pods(c.namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
	if err != nil && !apierrors.IsNotFound(err) {
		d.log.Warn("cannot delete a pod", "cluster", c.id, "pod", name, "error", err)
	}
	d.deleteSecretWithin(ctx, c, name)
}

// deleteSecret deletes a member's launch-params Secret within DeleteTimeout.
func (d *Driver) deleteSecret(c *conn, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.DeleteTimeout)
	defer cancel()
	d.deleteSecretWithin(ctx, c, name)
}

func (d *Driver) deleteSecretWithin(ctx context.Context, c *conn, name string) {
	err := c.client.CoreV1().Secrets(c.namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		d.log.Warn("cannot delete a member's launch-params secret", "cluster", c.id, "secret", name, "error", err)
	}
}

// forget drops what the driver kept about a pod that is gone.
func (d *Driver) forget(c *conn, name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(c.terminating, name)
	delete(c.reported, name)
}

// clusterHasPods says whether the informer holds a pod of a Strata cluster (its label value),
// from the index: an undeploy asks once per member, and a scan of every pod made it quadratic.
func (c *conn) clusterHasPods(lv string) bool {
	keys, err := c.pods.GetIndexer().IndexKeys(indexCluster, lv)
	return err != nil || len(keys) > 0 // an error keeps the services
}
