package kubernetes

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/strata-paas/strata/controller"
)

// serviceDeleted handles a Service of Strata's that is gone, whoever deleted it (the driver with
// its cluster's last pod, or kubectl): the driver forgets it, so that the cluster's next start
// creates it again, and queues its report for WatchServices, so that the cluster's
// kubernetesServices stop listing it. A Service of the same name created since is left alone.
func (d *Driver) serviceDeleted(c *conn, obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	svc, ok := obj.(*corev1.Service)
	if !ok || svc.Annotations[LabelCluster] == "" {
		return
	}
	if cur, ok, _ := c.svcs.GetStore().GetByKey(svc.Namespace + "/" + svc.Name); ok {
		if now, _ := cur.(*corev1.Service); now != nil && now.UID != svc.UID {
			return
		}
	}
	c.svcMu.Lock()
	delete(c.services, svc.Name)
	c.svcMu.Unlock()
	d.gone.Add(controller.ServiceGone{ClusterID: svc.Annotations[LabelCluster], ServiceID: svc.Name,
		KubernetesClusterID: c.id})
}

// WatchServices reports the Services of Strata's that are gone until ctx ends.
func (d *Driver) WatchServices(ctx context.Context, report func(controller.ServiceGone)) {
	d.gone.Run(ctx, report, nil, nil)
}
