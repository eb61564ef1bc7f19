package lb

import (
	"net"
	"net/url"
	"slices"
	"strconv"

	"github.com/strata-paas/strata/internal/model"
)

// Members on Kubernetes are reached through the Services that front their cluster (the
// topology's kubernetesServices), not at their pod IPs, which only the cluster's pod network
// routes: a NodePort Service at every Kubernetes host's address (its publicIPs) and its node
// port, a ClusterIP Service at its portalIP and port (reachable only from inside the Kubernetes
// cluster). Options.KubernetesPodIPs turns this off for a load balancer that runs in the pod
// network.
//
// A member's Kubernetes cluster is the first part of its IaaS instance id, which the kubernetes
// driver writes as "<kubernetes cluster>/<namespace>/<pod>"; the member's port (the cartridge's
// container port) picks the Service of that Kubernetes cluster whose containerPort it is. A
// member for which the cluster lists no such Service (another driver's, or a cluster whose
// Service is gone) is reached at its own address, as before.

// kubernetesClusterOf is the Kubernetes cluster named by a kubernetes driver's instance id, or "".
func kubernetesClusterOf(instanceID string) string {
	k8s, _, _, _ := model.ParseKubernetesInstanceID(instanceID)
	return k8s
}

// serviceTargets returns the addresses of the Service that fronts member m's container port, and
// whether there is such a Service; a Service without a usable address gives none (the member is
// then not routed: its pod IP is no better).
func serviceTargets(c *cluster, m *member, scheme string, containerPort model.Int) ([]*url.URL, bool) {
	if m.kubernetesCluster == "" {
		return nil, false
	}
	i := slices.IndexFunc(c.kubernetesServices, func(s model.KubernetesService) bool {
		return s.KubernetesClusterID == m.kubernetesCluster && s.ContainerPort == containerPort
	})
	if i < 0 {
		return nil, false
	}
	s := c.kubernetesServices[i]
	if s.Port <= 0 {
		return nil, true
	}
	port := strconv.Itoa(int(s.Port))
	var hosts []string
	switch s.ServiceType {
	case "NodePort", "LoadBalancer":
		hosts = s.PublicIPs
	default:
		if s.PortalIP != "" && s.PortalIP != "None" {
			hosts = []string{s.PortalIP}
		}
	}
	out := make([]*url.URL, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, &url.URL{Scheme: scheme, Host: net.JoinHostPort(h, port)})
	}
	return out, true
}

// setServicesLocked records the Kubernetes Services of a cluster that an event carries and says
// whether they changed (the routes must then be rebuilt). An event without any leaves them.
func setServicesLocked(c *cluster, services []model.KubernetesService) bool {
	if len(services) == 0 || slices.EqualFunc(c.kubernetesServices, services, sameService) {
		return false
	}
	c.kubernetesServices = slices.Clone(services)
	return true
}

func sameService(a, b model.KubernetesService) bool {
	return a.ID == b.ID && a.KubernetesClusterID == b.KubernetesClusterID && a.ServiceType == b.ServiceType &&
		a.Port == b.Port && a.ContainerPort == b.ContainerPort && a.PortalIP == b.PortalIP && slices.Equal(a.PublicIPs, b.PublicIPs)
}
