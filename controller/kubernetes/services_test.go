package kubernetes_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/controller/kubernetes"
	"github.com/strata-paas/strata/controller/kubernetes/kubetest"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// watchServices runs the driver's WatchServices and returns what it reports.
func watchServices(t *testing.T, d *kubernetes.Driver) <-chan controller.ServiceGone {
	return reported(t, d.WatchServices)
}

func nextGone(t *testing.T, gone <-chan controller.ServiceGone, what string) controller.ServiceGone {
	t.Helper()
	return next(t, gone, 30*time.Second, "service gone: "+what)
}

// TestDriverServicesGone: a NodePort Service's publicIPs are the cluster's hosts, not its master;
// a Service deleted outside Strata (kubectl delete service) is reported gone, so the topology stops
// listing it, and the cluster's next start creates it again; the Service deleted with the cluster's
// last member is reported gone too.
func TestDriverServicesGone(t *testing.T) {
	t.Parallel()
	kc := kubetest.StartAPIServer(t)
	node := kubetest.StartNode(t, kc, kubetest.NodeOptions{})
	def := definition("k8s", kc, 31000, 31010)
	def.KubernetesHosts = []model.KubernetesHost{{HostID: node.Name, PrivateIPAddress: node.IP}}
	d, err := kubernetes.New(kubernetes.Options{Clusters: &clusters{defs: map[string]model.KubernetesCluster{"k8s": def}}})
	if err != nil {
		t.Fatal(err)
	}
	watch(t, d)
	gone := watchServices(t, d)
	ctx := context.Background()

	in := instance("k8s", "exec sleep 600")
	st, err := d.Start(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Services) != 1 || len(st.Services[0].PublicIPs) != 1 || st.Services[0].PublicIPs[0] != node.IP {
		t.Fatalf("services %+v: want one at the host %s (its private address: it has no public one)", st.Services, node.IP)
	}
	svc := st.Services[0]

	kc.Kubectl(t, "delete", "service", "-n", "default", svc.ID)
	want := controller.ServiceGone{ClusterID: in.ClusterID, ServiceID: svc.ID, KubernetesClusterID: "k8s"}
	if g := nextGone(t, gone, "kubectl delete service"); g != want {
		t.Errorf("reported %+v, want %+v", g, want)
	}
	// The driver forgot it: the cluster's next member brings it back.
	started := []controller.Started{st}
	testenv.Eventually(t, 30*time.Second, "a start that recreates the service", func() bool {
		next, err := d.Start(ctx, instance("k8s", "exec sleep 600"))
		if err != nil {
			t.Fatal(err)
		}
		started = append(started, next)
		_, err = kc.Client.CoreV1().Services("default").Get(ctx, svc.ID, metav1.GetOptions{})
		return err == nil
	})
	if last := started[len(started)-1]; len(last.Services) != 1 || last.Services[0].ID != svc.ID {
		t.Errorf("the recreated service %+v", last.Services)
	}

	// The cluster's last member goes, and its Service with it: reported gone.
	for _, s := range started[:len(started)-1] {
		if err := d.Terminate(ctx, s.InstanceID); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case g := <-gone:
		t.Fatalf("a service reported gone while a member is left: %+v", g)
	default:
	}
	if err := d.Terminate(ctx, started[len(started)-1].InstanceID); err != nil {
		t.Fatal(err)
	}
	if g := nextGone(t, gone, "the cluster's last member terminated"); g != want {
		t.Errorf("reported %+v, want %+v", g, want)
	}
}
