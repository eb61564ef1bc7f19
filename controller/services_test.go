package controller_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// servicesDriver starts instances fronted by a service, as the kubernetes driver does, and
// reports services gone through WatchServices.
type servicesDriver struct {
	stuckDriver
	mu       sync.Mutex
	services []model.KubernetesService
	report   func(controller.ServiceGone)
}

func (d *servicesDriver) Start(ctx context.Context, in controller.Instance) (controller.Started, error) {
	st, err := d.stuckDriver.Start(ctx, in)
	d.mu.Lock()
	st.Services = slices.Clone(d.services)
	d.mu.Unlock()
	return st, err
}

func (d *servicesDriver) WatchServices(ctx context.Context, report func(controller.ServiceGone)) {
	d.mu.Lock()
	d.report = report
	d.mu.Unlock()
	<-ctx.Done()
}

func (d *servicesDriver) gone(g controller.ServiceGone) {
	d.mu.Lock()
	report := d.report
	d.mu.Unlock()
	report(g)
}

// The services a driver reports with a member's start are in its cluster's kubernetesServices
// and in the member's MemberInitializedEvent (so the load balancer knows them before the member
// is Active); a service recreated with another port replaces the old one; a service the driver
// reports gone leaves the cluster's list and the complete topology.
func TestKubernetesServicesFollowTheDriver(t *testing.T) {
	e := newEnv(t)
	svc := model.KubernetesService{ID: "s-web-80", ServiceType: "NodePort", Port: 31000, ContainerPort: 80,
		PublicIPs: []string{"192.0.2.10"}, KubernetesClusterID: "k8s"}
	drv := &servicesDriver{services: []model.KubernetesService{svc}}
	e.opts.Drivers["mock"] = drv
	c, _ := runController(t, e.opts)
	seed(t, c)
	ctx := context.Background()
	m, err := c.StartMember(ctx, startReq)
	if err != nil {
		t.Fatal(err)
	}
	evs := e.watch.until(t, "MemberInitialized", func(evs []model.Event) bool {
		return hasClass(evs, m.MemberID, "topology.MemberInitializedEvent")
	})
	for _, ev := range evs {
		if init, ok := ev.(*model.MemberInitializedEvent); ok && init.MemberID == m.MemberID {
			if len(init.KubernetesServices) != 1 || init.KubernetesServices[0].ID != svc.ID || init.KubernetesServices[0].Port != 31000 {
				t.Errorf("MemberInitializedEvent's kubernetesServices %+v, want the cluster's service", init.KubernetesServices)
			}
		}
	}
	listed := func() []model.KubernetesService {
		cl, err := c.Cluster(clusterID)
		if err != nil {
			t.Fatal(err)
		}
		return cl.KubernetesServices
	}
	if got := listed(); len(got) != 1 || got[0].Port != 31000 {
		t.Fatalf("the cluster's kubernetesServices %+v", got)
	}

	recreated := svc
	recreated.Port = 31001
	drv.mu.Lock()
	drv.services = []model.KubernetesService{recreated}
	drv.mu.Unlock()
	if _, err := c.StartMember(ctx, startReq); err != nil {
		t.Fatal(err)
	}
	if got := listed(); len(got) != 1 || got[0].Port != 31001 {
		t.Errorf("after the service was recreated: %+v, want it alone with port 31001", got)
	}

	drv.gone(controller.ServiceGone{ClusterID: clusterID, ServiceID: svc.ID, KubernetesClusterID: "other"})
	drv.gone(controller.ServiceGone{ClusterID: clusterID, ServiceID: svc.ID, KubernetesClusterID: "k8s"})
	testenv.Eventually(t, 5*time.Second, "the gone service unlisted", func() bool { return len(listed()) == 0 })
	if top := c.Topology(); len(top.Cluster(clusterID).KubernetesServices) != 0 {
		t.Errorf("the complete topology still lists %+v", top.Cluster(clusterID).KubernetesServices)
	}
}
