package kubernetes_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/strata-paas/strata/controller/kubernetes"
	"github.com/strata-paas/strata/controller/kubernetes/kubetest"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// heldDeletes is a plain-HTTP proxy in front of an API server that holds every pod DELETE until
// release is called; arrived is closed when the first one came, and answered says whether the
// API server answered one (before the answer goes back to the client).
func heldDeletes(t *testing.T, kc *kubetest.Cluster) (kubeconfig string, arrived <-chan struct{}, release func(), answered *atomic.Bool) {
	t.Helper()
	upstream, err := url.Parse(kc.URL)
	if err != nil {
		t.Fatal(err)
	}
	transport, err := rest.TransportFor(kc.Config)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(upstream)
	proxy.Transport = transport
	answered = new(atomic.Bool)
	proxy.ModifyResponse = func(r *http.Response) error {
		if r.Request.Method == http.MethodDelete && strings.Contains(r.Request.URL.Path, "/pods/") {
			answered.Store(true)
		}
		return nil
	}
	came, held := make(chan struct{}), make(chan struct{})
	cameOnce := sync.OnceFunc(func() { close(came) })
	release = sync.OnceFunc(func() { close(held) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/pods/") {
			cameOnce()
			<-held
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(release) // before srv.Close, which waits for the held requests
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["proxy"] = &clientcmdapi.Cluster{Server: srv.URL}
	cfg.AuthInfos["anyone"] = &clientcmdapi.AuthInfo{}
	cfg.Contexts["proxy"] = &clientcmdapi.Context{Cluster: "proxy", AuthInfo: "anyone"}
	cfg.CurrentContext = "proxy"
	kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	return kubeconfig, came, release, answered
}

// Close returns only after the deletes the driver runs in the background (here: the pod of a
// member whose container crashed) reached the API server, so that a Strata that stops right
// after a member ended leaves no Failed pod behind.
func TestCloseWaitsForBackgroundDeletes(t *testing.T) {
	t.Parallel()
	kc := kubetest.StartAPIServer(t)
	kubetest.StartNode(t, kc, kubetest.NodeOptions{})
	kubeconfig, arrived, release, answered := heldDeletes(t, kc)
	def := model.KubernetesCluster{ClusterID: "k8s", KubernetesMaster: model.KubernetesHost{HostID: "master"},
		Property: []model.NameValue{{Name: kubernetes.PropertyKubeconfig, Value: model.String(kubeconfig)}}}
	d, err := kubernetes.New(kubernetes.Options{Clusters: &clusters{defs: map[string]model.KubernetesCluster{"k8s": def}},
		Logger: testenv.Logger(t, -4)})
	if err != nil {
		t.Fatal(err)
	}
	exits := watch(t, d)
	in := instance("k8s", "sleep 1; exit 3")
	st, err := d.Start(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if e := nextExit(t, exits, "crash"); e.InstanceID != st.InstanceID {
		t.Fatalf("exit %+v", e)
	}
	<-arrived // the driver's background delete of the crashed pod is on its way
	closed := make(chan struct{})
	go func() { d.Close(); close(closed) }()
	release()
	<-closed
	if !answered.Load() {
		t.Error("Close returned before the API server answered the delete of the crashed pod")
	}
	name := kubernetesPodName(in.MemberID)
	pod, err := kc.Client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) && (err != nil || pod.DeletionTimestamp == nil) {
		t.Errorf("the crashed pod after Close returned: %v, %v; want it deleted", pod.Status.Phase, err)
	}
}
