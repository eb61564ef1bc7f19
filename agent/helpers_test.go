package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// testLogger writes to the test log when -v is given.
func testLogger(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// The broker credentials of the tests: the member's agent logs in with the member's own
// credential, as a member's payload gives it (MB_USERNAME, MB_PASSWORD), and the broker applies
// the member ACL to it; the controller simulation logs in as the platform.
const (
	memberUser       = "member." + testMember
	memberPassword   = "member-secret"
	platformUser     = "strata.internal"
	platformPassword = "platform-secret"
)

// startBroker runs an embedded broker on a free loopback port that admits the platform and
// testMember's agent, and nobody anonymously.
func startBroker(t *testing.T) string {
	t.Helper()
	identify := func(_, user, password string) (bus.Identity, bool) {
		switch {
		case user == platformUser && password == platformPassword:
			return bus.Identity{Role: bus.RoleInternal, Name: user}, true
		case user == memberUser && password == memberPassword:
			return bus.Identity{Role: bus.RoleMember, Name: user, MemberID: testMember, ClusterID: testCluster}, true
		}
		return bus.Identity{}, false
	}
	b, err := bus.NewBroker(bus.BrokerOptions{Listeners: []string{"127.0.0.1:0"}, Identify: identify})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return b.URL()
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

// controllerSim plays the cloud controller and the manager on the bus: it records every event on
// instance/status/#, initializer/# and strata/initializer/#.
type controllerSim struct {
	t   *testing.T
	bus *bus.Client
	ch  chan model.Event
}

func newControllerSim(t *testing.T, url string) *controllerSim {
	t.Helper()
	c, err := bus.New(bus.Options{URLs: []string{url}, Username: platformUser, Password: platformPassword, RetryMin: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := &controllerSim{t: t, bus: c, ch: make(chan model.Event, 1000)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for _, f := range []string{"instance/status/#", "initializer/#", model.SubscribeStrataInitializer} {
		if err := c.SubscribeEvents(ctx, f, func(_ string, e model.Event) { s.ch <- e }); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until connected and subscribed.
	deadline := time.Now().Add(10 * time.Second)
	for c.State() != bus.Connected {
		if time.Now().After(deadline) {
			t.Fatal("controller sim did not connect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s
}

func (s *controllerSim) publish(e model.Event) {
	s.t.Helper()
	if err := s.bus.PublishEvent(context.Background(), e); err != nil {
		s.t.Fatal(err)
	}
}

// next waits for the next event of type T, skipping others, and fails after timeout.
func next[T model.Event](s *controllerSim, timeout time.Duration) T {
	s.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case e := <-s.ch:
			if v, ok := e.(T); ok {
				return v
			}
		case <-deadline.C:
			var zero T
			s.t.Fatalf("no %T within %v", zero, timeout)
			return zero
		}
	}
}

// expectNone fails if an event of type T arrives within d.
func expectNone[T model.Event](s *controllerSim, d time.Duration) {
	s.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		select {
		case e := <-s.ch:
			if _, ok := e.(T); ok {
				s.t.Fatalf("unexpected %T", e)
			}
		case <-deadline.C:
			return
		}
	}
}

// cepSink is a real data-bridge server that keeps copies of the events it receives.
type cepSink struct {
	srv    *databridge.Server
	mu     sync.Mutex
	events []databridge.Event
	notify chan struct{}
}

func (c *cepSink) HandleEvents(evs []databridge.Event) {
	c.mu.Lock()
	for _, e := range evs {
		cp := e
		cp.Strings = append([]string(nil), e.Strings...)
		cp.Doubles = append([]float64(nil), e.Doubles...)
		cp.Longs = append([]int64(nil), e.Longs...)
		c.events = append(c.events, cp)
	}
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// waitFor polls the received events until cond holds, or fails after timeout.
func (c *cepSink) waitFor(t *testing.T, timeout time.Duration, what string, cond func([]databridge.Event) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		ok := cond(c.events)
		c.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cep: no %s within %v", what, timeout)
		}
		select {
		case <-c.notify:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func startCEP(t *testing.T) (*cepSink, string) {
	t.Helper()
	sink := &cepSink{notify: make(chan struct{}, 1)}
	srv, err := databridge.NewServer(databridge.ServerOptions{
		SecureAddr: "127.0.0.1:0",
		TLS:        &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}},
		// The agent's CEP credential is testMember's own: whatever it publishes (health, logs)
		// must lie inside that member's scope, or the sink does not see it.
		Authorize: func(_ context.Context, u, p string) (databridge.Scope, error) {
			if u == "admin" && p == "admin" {
				return databridge.Scope{ClusterID: testCluster, MemberID: testMember}, nil
			}
			return databridge.Scope{}, errors.New("bad credentials")
		},
		Handler: sink,
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	sink.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return sink, srv.SecureAddr().String()
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cep"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// git runs the git CLI in dir.
func gitCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=master"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// bareRepo makes root/name.git with one commit holding files, and returns the work clone used to
// push further commits.
func bareRepo(t *testing.T, root, name string, files map[string]string) (bare, work string) {
	t.Helper()
	testenv.Program(t, "git") // skipped without git on a developer machine, fails in CI
	bare = filepath.Join(root, name+".git")
	work = filepath.Join(root, name+"-work")
	gitCLI(t, root, "init", "-q", "--bare", bare)
	gitCLI(t, root, "init", "-q", work)
	commitFiles(t, work, files)
	gitCLI(t, work, "remote", "add", "origin", bare)
	gitCLI(t, work, "push", "-q", "origin", "master")
	return bare, work
}

func commitFiles(t *testing.T, work string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(work, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitCLI(t, work, "add", "-A")
	gitCLI(t, work, "commit", "-q", "-m", "update")
}

// gitHTTP serves the bare repositories under root over smart HTTP (git http-backend through
// net/http/cgi) behind basic auth.
func gitHTTP(t *testing.T, root, user, pass string) string {
	t.Helper()
	backend := "/usr/lib/git-core/git-http-backend"
	if out, err := exec.Command("git", "--exec-path").Output(); err == nil {
		backend = filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	}
	if _, err := os.Stat(backend); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("git-http-backend not found at %s", backend)
		}
		t.Skipf("git-http-backend not found at %s", backend)
	}
	h := &cgi.Handler{
		Path: backend,
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// writeFile writes a file, creating its directory.
func writeFile(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or fails after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, timeout, what, cond)
}

// topologyWith is a complete topology holding one member in the given state.
func topologyWith(service, cluster, member, ip string, states ...model.MemberStatus) *model.Topology {
	m := &model.Member{
		ServiceName: service, ClusterID: cluster, MemberID: member,
		DefaultPrivateIP: ip, MemberPrivateIPs: []string{ip},
		Properties: model.Properties{"role": "web"},
	}
	for _, s := range states {
		m.PushStatus(s)
	}
	return &model.Topology{ServiceMap: map[string]*model.Service{
		service: {ServiceName: service, ServiceType: model.SingleTenant, ClusterIDClusterMap: map[string]*model.Cluster{
			cluster: {ServiceName: service, ClusterID: cluster, MemberMap: map[string]*model.Member{member: m},
				Properties: model.Properties{"tier": "front"}},
		}},
	}}
}

// readEnv reads a file of KEY=VALUE lines written by `env` in an extension.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// listen opens a TCP listener on 127.0.0.1 (port 0 for any) that accepts and closes connections.
func listen(t *testing.T, port int) (net.Listener, int) {
	t.Helper()
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return l, l.Addr().(*net.TCPAddr).Port
}
