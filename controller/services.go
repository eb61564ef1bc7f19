package controller

import (
	"slices"

	"github.com/strata-paas/strata/internal/model"
)

// serviceGone drops a service that no longer exists from its cluster's kubernetesServices (a
// ServiceWatcher's report): the complete topology stops listing it, and so does the load balancer
// that reads it.
func (c *Controller) serviceGone(g ServiceGone) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.clusters[g.ClusterID]
	if cl == nil {
		return
	}
	n := len(cl.Cluster.KubernetesServices)
	cl.Cluster.KubernetesServices = slices.DeleteFunc(slices.Clone(cl.Cluster.KubernetesServices), func(s model.KubernetesService) bool {
		return s.ID == g.ServiceID && s.KubernetesClusterID == g.KubernetesClusterID
	})
	if len(cl.Cluster.KubernetesServices) == n {
		return
	}
	c.putClusterLocked(cl)
	c.topologyChanged() // the complete topology changed without an event
	c.log.Info("a cluster's kubernetes service is gone", "cluster_id", g.ClusterID, "service", g.ServiceID,
		"kubernetes_cluster", g.KubernetesClusterID)
}
