package kubetest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/strata-paas/strata/internal/testenv"
)

// Where the API server's binary comes from: $EnvAPIServer, else the cache .ci/kube-apiserver
// builds into (CacheDir/kube-apiserver-Version).
const (
	EnvAPIServer = "STRATA_KUBE_APISERVER"
	EnvKubectl   = "STRATA_KUBECTL" // the kubectl Kubectl runs; default: kubectl in PATH
	Version      = "v1.34.4"
	CacheDir     = "/var/cache/strata-ci"
)

// The cluster's fixed ranges: every test API server has the same ones, each in its own etcd.
const (
	ServiceCIDR   = "10.96.0.0/16"
	NodePortRange = "30000-32767"
	// AdminUser is the user the admin token authenticates, in group system:masters.
	AdminUser = "kubetest-admin"
)

// Cluster is a running kube-apiserver with its etcd, and an admin's ways to reach it.
type Cluster struct {
	// URL is the API server's https address on the loopback interface.
	URL string
	// Kubeconfig is the path of a kubeconfig file with the admin's credentials (context "kubetest").
	Kubeconfig string
	// Config is the admin's client configuration (QPS and burst raised for tests).
	Config *rest.Config
	// Client is a clientset on Config.
	Client kubernetes.Interface
	// Token is the admin's bearer token; CAData the PEM of the CA that signed the serving certificate.
	Token  string
	CAData []byte
	// Dir holds the data, certificates and logs (etcd.log, apiserver.log).
	Dir string
}

// APIServerBinary returns the kube-apiserver to run, or "" when there is none.
func APIServerBinary() string {
	if p := os.Getenv(EnvAPIServer); p != "" {
		return p
	}
	p := filepath.Join(CacheDir, "kube-apiserver-"+Version)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return ""
}

// StartAPIServer starts etcd and kube-apiserver on free loopback ports with their data in a
// temporary directory, and waits until the API server is ready (/readyz). Both are stopped at
// the end of the test. Without a kube-apiserver binary (see APIServerBinary) the test is skipped,
// or fails when CI is set. The ServiceAccount admission plugin is off (no controller creates the
// default ServiceAccount), authorization is RBAC, and the admin is in system:masters.
func StartAPIServer(t testing.TB) *Cluster {
	t.Helper()
	bin := APIServerBinary()
	if bin == "" {
		msg := fmt.Sprintf("kubetest: no kube-apiserver: set %s or build %s with .ci/kube-apiserver",
			EnvAPIServer, filepath.Join(CacheDir, "kube-apiserver-"+Version))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("kubetest: kube-apiserver %s: %v", bin, err)
	}
	etcdBin := testenv.Program(t, "etcd")
	dir := t.TempDir()
	c := &Cluster{Dir: dir}

	clientPort, peerPort := testenv.FreePort(t), testenv.FreePort(t)
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	etcdDone := startProcess(t, dir, "etcd", etcdBin,
		"--name=kubetest", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubetest="+peerURL, "--log-level=warn")

	ca, err := writeCerts(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.CAData = ca
	c.Token = randomToken(t)
	if err := os.WriteFile(filepath.Join(dir, "tokens.csv"),
		[]byte(c.Token+","+AdminUser+",1,\"system:masters\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := testenv.FreePort(t)
	c.URL = "https://127.0.0.1:" + strconv.Itoa(port)
	apiDone := startProcess(t, dir, "apiserver", bin,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(port),
		"--tls-cert-file="+filepath.Join(dir, "serving.crt"), "--tls-private-key-file="+filepath.Join(dir, "serving.key"),
		"--client-ca-file="+filepath.Join(dir, "ca.crt"),
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--service-cluster-ip-range="+ServiceCIDR,
		"--service-node-port-range="+NodePortRange,
		"--disable-admission-plugins=ServiceAccount",
		"--enable-priority-and-fairness=false",
		"--allow-privileged=true",
		"--profiling=false",
		"--cert-dir="+filepath.Join(dir, "certs"))

	c.Config = &rest.Config{
		Host:            c.URL,
		BearerToken:     c.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: ca},
		QPS:             500,
		Burst:           1000,
	}
	waitReady(t, c, apiDone, etcdDone)
	c.Client, err = kubernetes.NewForConfig(c.Config)
	if err != nil {
		t.Fatalf("kubetest: clientset: %v", err)
	}
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := clientcmd.WriteToFile(c.kubeconfig(), c.Kubeconfig); err != nil {
		t.Fatalf("kubetest: write kubeconfig: %v", err)
	}
	return c
}

// kubeconfig is the admin's kubeconfig for the cluster, with context "kubetest".
func (c *Cluster) kubeconfig() clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: c.URL, CertificateAuthorityData: c.CAData}
	cfg.AuthInfos["kubetest-admin"] = &clientcmdapi.AuthInfo{Token: c.Token}
	cfg.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "kubetest-admin", Namespace: "default"}
	cfg.CurrentContext = "kubetest"
	return *cfg
}

// Kubectl runs kubectl with the cluster's kubeconfig and returns its standard output; the test
// fails when kubectl does.
func (c *Cluster) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.KubectlErr(t, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// KubectlErr runs kubectl like Kubectl and returns its failure (with its standard error) instead
// of failing the test.
func (c *Cluster) KubectlErr(t testing.TB, args ...string) (string, error) {
	t.Helper()
	bin := os.Getenv(EnvKubectl)
	if bin == "" {
		bin = testenv.Program(t, "kubectl")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, append([]string{"--kubeconfig=" + c.Kubeconfig}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// kubectl keeps its discovery cache in $HOME/.kube: one per cluster, not the user's.
	cmd.Env = append(os.Environ(), "HOME="+c.Dir, "KUBECACHEDIR="+filepath.Join(c.Dir, "kubecache"))
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// startProcess starts a server in its own process group, logging to dir/name.log, and stops it
// (SIGTERM, then SIGKILL after 10 s) at the end of the test. The channel is closed when it exits.
func startProcess(t testing.TB, dir, name, bin string, args ...string) <-chan struct{} {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("kubetest: start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); out.Close(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("kubetest: %s's log ends:\n%s", name, tail(b, 3000))
		}
	})
	return done
}

// waitReady polls /readyz until the API server answers ok (up to 120 s: a loaded machine starts
// it slowly), failing early when the API server or etcd exits.
func waitReady(t testing.TB, c *Cluster, apiDone, etcdDone <-chan struct{}) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CAData)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(120 * time.Second)
	var last string
	for {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, c.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+c.Token)
		resp, err := client.Do(req)
		if err == nil {
			var b bytes.Buffer
			_, _ = b.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%s: %s", resp.Status, tail(b.Bytes(), 500))
		} else {
			last = err.Error()
		}
		select {
		case <-apiDone:
			b, _ := os.ReadFile(filepath.Join(c.Dir, "apiserver.log"))
			t.Fatalf("kubetest: kube-apiserver exited at start: %s", tail(b, 3000))
		case <-etcdDone:
			b, _ := os.ReadFile(filepath.Join(c.Dir, "etcd.log"))
			t.Fatalf("kubetest: etcd exited at start: %s", tail(b, 3000))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubetest: kube-apiserver not ready within 120 s: %s", last)
		}
	}
}

// writeCerts writes a CA (ca.crt), a serving certificate for 127.0.0.1 and localhost signed by
// it (serving.crt, serving.key) and the service-account signing key pair (sa.key, sa.pub) into
// dir, and returns the CA's PEM.
func writeCerts(dir string) ([]byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("kubetest: ca key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kubetest-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("kubetest: ca certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("kubetest: ca certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("kubetest: serving key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 96, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("kubetest: serving certificate: %w", err)
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("kubetest: service-account key: %w", err)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	files := map[string][]byte{
		"ca.crt":      caPEM,
		"serving.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}
	for name, k := range map[string]*ecdsa.PrivateKey{"serving.key": key, "sa.key": saKey} {
		b, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("kubetest: %s: %w", name, err)
		}
		files[name] = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: b})
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("kubetest: service-account public key: %w", err)
	}
	files["sa.pub"] = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, fmt.Errorf("kubetest: write %s: %w", name, err)
		}
	}
	return caPEM, nil
}

func randomToken(t testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", b)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
