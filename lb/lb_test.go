package lb

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
)

// fakeBus hands the LB's topology handler to the test, which calls it like the bus would.
type fakeBus struct {
	mu        sync.Mutex
	handler   bus.EventHandler
	published []model.Event
}

func (b *fakeBus) SubscribeEvents(_ context.Context, _ string, h bus.EventHandler) error {
	b.mu.Lock()
	b.handler = h
	b.mu.Unlock()
	return nil
}

func (b *fakeBus) PublishEvent(_ context.Context, e model.Event) error {
	b.mu.Lock()
	b.published = append(b.published, e)
	b.mu.Unlock()
	return nil
}

func (b *fakeBus) send(e model.Event) {
	b.mu.Lock()
	h := b.handler
	b.mu.Unlock()
	h(model.TopicOf(e), e)
}

// fakeCEP records published events.
type fakeCEP struct {
	mu     sync.Mutex
	events []databridge.Event
}

func (c *fakeCEP) Publish(_ context.Context, evs ...databridge.Event) error {
	c.mu.Lock()
	c.events = append(c.events, evs...)
	c.mu.Unlock()
	return nil
}

// backendServer answers with its name and counts requests.
type backendServer struct {
	name string
	srv  *httptest.Server
	hits atomic.Int64
	port int
}

func newBackend(t *testing.T, name string, h http.HandlerFunc) *backendServer {
	b := &backendServer{name: name}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		io.WriteString(w, name)
	}))
	t.Cleanup(b.srv.Close)
	u, _ := url.Parse(b.srv.URL)
	b.port, _ = strconv.Atoi(u.Port())
	return b
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startLB runs a load balancer on a fake bus.
func startLB(t *testing.T, o Options) (*LB, *fakeBus) {
	t.Helper()
	fb := &fakeBus{}
	o.Bus = fb
	o.Host = "127.0.0.1"
	o.Logger = slog.New(slog.DiscardHandler)
	if o.StatsInterval == 0 {
		o.StatsInterval = time.Hour
	}
	l, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(5 * time.Second)
	for {
		fb.mu.Lock()
		ok := fb.handler != nil
		fb.mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("lb did not subscribe")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return l, fb
}

type memberSpec struct {
	id, instance string
	port         int
	status       model.MemberStatus
}

func clusterWith(service, id string, hosts []string, proxy int, members ...memberSpec) *model.Cluster {
	c := &model.Cluster{ServiceName: service, ClusterID: id, HostNames: hosts, MemberMap: map[string]*model.Member{}}
	for _, m := range members {
		mm := &model.Member{ServiceName: service, ClusterID: id, MemberID: m.id, ClusterInstanceID: m.instance,
			NetworkPartitionID: "np1", DefaultPrivateIP: "127.0.0.1",
			PortMap: model.PortMap{proxy: {Protocol: "http", Value: model.Int(m.port), Proxy: model.Int(proxy)}}}
		mm.PushStatus(m.status)
		c.MemberMap[m.id] = mm
	}
	return c
}

func topology(proxy int, clusters ...*model.Cluster) *model.Topology {
	t := &model.Topology{ServiceMap: map[string]*model.Service{}}
	for _, c := range clusters {
		s := t.ServiceMap[c.ServiceName]
		if s == nil {
			s = &model.Service{ServiceName: c.ServiceName, ClusterIDClusterMap: map[string]*model.Cluster{},
				PortMap: model.PortMap{proxy: {Protocol: "http", Value: 80, Proxy: model.Int(proxy)}}}
			t.ServiceMap[c.ServiceName] = s
		}
		s.ClusterIDClusterMap[c.ClusterID] = c
	}
	return t
}

var client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// get sends a request for host to the proxy port and returns status and body.
func get(t *testing.T, port int, host string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/x", port), nil)
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRoutesByHostRoundRobinToActiveMembers(t *testing.T) {
	a1, a2, a3 := newBackend(t, "a1", nil), newBackend(t, "a2", nil), newBackend(t, "a3", nil)
	b1 := newBackend(t, "b1", nil)
	proxy := freePort(t)
	_, fb := startLB(t, Options{})
	fb.send(&model.CompleteTopologyEvent{Topology: topology(proxy,
		clusterWith("php", "app.a.php.domain", []string{"a.example.com"}, proxy,
			memberSpec{"a1", "ci1", a1.port, model.MemberActive}, memberSpec{"a2", "ci1", a2.port, model.MemberActive},
			memberSpec{"a3", "ci1", a3.port, model.MemberStarting}),
		clusterWith("php", "app.b.php.domain", []string{"b.example.com"}, proxy,
			memberSpec{"b1", "ci2", b1.port, model.MemberActive}),
	)})

	seen := map[string]int{}
	var last string
	for range 10 {
		code, body := get(t, proxy, "A.example.com:"+strconv.Itoa(proxy))
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		if body == last {
			t.Errorf("%s served twice in a row: not round robin", body)
		}
		last = body
		seen[body]++
	}
	if seen["a1"] != 5 || seen["a2"] != 5 || a3.hits.Load() != 0 {
		t.Errorf("spread %v, Starting member hits %d", seen, a3.hits.Load())
	}
	if code, body := get(t, proxy, "b.example.com"); code != 200 || body != "b1" {
		t.Errorf("b host: %d %q", code, body)
	}
	if code, body := get(t, proxy, "unknown.example.com"); code != http.StatusNotFound ||
		!strings.Contains(body, "shared by several clusters and routes by host name") || strings.Contains(body, "a.example.com") {
		t.Errorf("unknown host on a shared port: %d %q, want 404 saying the port routes by host name (without the names)", code, body)
	}
}

func TestMemberLeavesTheMomentItLeavesActive(t *testing.T) {
	m1, m2 := newBackend(t, "m1", nil), newBackend(t, "m2", nil)
	proxy := freePort(t)
	_, fb := startLB(t, Options{})
	const svc, cl = "php", "app.php.php.domain"
	fb.send(&model.CompleteTopologyEvent{Topology: topology(proxy, clusterWith(svc, cl, []string{"app.example.com"}, proxy,
		memberSpec{"m1", "ci1", m1.port, model.MemberActive}, memberSpec{"m2", "ci1", m2.port, model.MemberStarting}))})
	// A port with one cluster also takes unknown hosts.
	if code, body := get(t, proxy, "127.0.0.1"); code != 200 || body != "m1" {
		t.Fatalf("single cluster: %d %q", code, body)
	}
	// m2 becomes Active with its ports.
	fb.send(&model.MemberActivatedEvent{ServiceName: svc, ClusterID: cl, MemberID: "m2", DefaultPrivateIP: "127.0.0.1",
		PortMap: model.PortMap{proxy: {Protocol: "http", Value: model.Int(m2.port), Proxy: model.Int(proxy)}}})
	got := map[string]bool{}
	for range 4 {
		_, body := get(t, proxy, "app.example.com")
		got[body] = true
	}
	if !got["m1"] || !got["m2"] {
		t.Fatalf("after activation served by %v", got)
	}

	fb.send(&model.MemberMaintenanceModeEvent{ServiceName: svc, ClusterID: cl, MemberID: "m1"})
	for range 3 {
		if _, body := get(t, proxy, "app.example.com"); body != "m2" {
			t.Fatalf("after m1's maintenance served by %q", body)
		}
	}
	fb.send(&model.MemberTerminatedEvent{ServiceName: svc, ClusterID: cl, MemberID: "m2"})
	// Both are gone: 503 at once, never a hang.
	start := time.Now()
	code, _ := get(t, proxy, "app.example.com")
	if code != http.StatusServiceUnavailable || time.Since(start) > time.Second {
		t.Errorf("no member: %d after %v, want a quick 503", code, time.Since(start))
	}
	h1, h2 := m1.hits.Load(), m2.hits.Load()
	for range 3 {
		get(t, proxy, "app.example.com")
	}
	if m1.hits.Load() != h1 || m2.hits.Load() != h2 {
		t.Error("a member out of Active still received requests")
	}
	// Other ways out of Active.
	for _, leave := range []model.Event{
		&model.MemberSuspendedEvent{ServiceName: svc, ClusterID: cl, MemberID: "m1"},
		&model.MemberReadyToShutdownEvent{ServiceName: svc, ClusterID: cl, MemberID: "m1"},
		&model.MemberStartedEvent{ServiceName: svc, ClusterID: cl, MemberID: "m1"},
		&model.ClusterRemovedEvent{ServiceName: svc, ClusterID: cl},
	} {
		fb.send(&model.MemberActivatedEvent{ServiceName: svc, ClusterID: cl, MemberID: "m1", DefaultPrivateIP: "127.0.0.1",
			PortMap: model.PortMap{proxy: {Protocol: "http", Value: model.Int(m1.port), Proxy: model.Int(proxy)}}})
		if code, body := get(t, proxy, "app.example.com"); code != 200 || body != "m1" {
			t.Fatalf("reactivated: %d %q", code, body)
		}
		fb.send(leave)
		if code, _ := get(t, proxy, "app.example.com"); code != http.StatusServiceUnavailable && code != http.StatusNotFound {
			t.Errorf("after %T: %d, want 503", leave, code)
		}
	}
}

// TestNoFailureWhileMemberRemovedUnderLoad drives steady concurrent load through two members and
// takes one out (maintenance, then its server stops): no request may fail.
func TestNoFailureWhileMemberRemovedUnderLoad(t *testing.T) {
	m1, m2 := newBackend(t, "m1", nil), newBackend(t, "m2", nil)
	proxy := freePort(t)
	_, fb := startLB(t, Options{})
	const svc, cl = "php", "app.php.php.domain"
	fb.send(&model.CompleteTopologyEvent{Topology: topology(proxy, clusterWith(svc, cl, []string{"app.example.com"}, proxy,
		memberSpec{"m1", "ci1", m1.port, model.MemberActive}, memberSpec{"m2", "ci1", m2.port, model.MemberActive}))})

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/", proxy), nil)
				req.Host = "app.example.com"
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				ok.Add(1)
			}
		})
	}
	waitCount := func(n int64) {
		deadline := time.Now().Add(10 * time.Second)
		for ok.Load() < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitCount(200)
	fb.send(&model.MemberMaintenanceModeEvent{ServiceName: svc, ClusterID: cl, MemberID: "m1"})
	m1.srv.Close() // waits for the requests it is serving
	after := m1.hits.Load()
	waitCount(ok.Load() + 200)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed; first: %v", failed.Load(), failed.Load()+ok.Load(), firstErr.Load())
	}
	if m1.hits.Load() != after {
		t.Error("the removed member received requests")
	}
	if m2.hits.Load() == 0 || ok.Load() < 400 {
		t.Errorf("ok %d, m2 hits %d", ok.Load(), m2.hits.Load())
	}
}

func TestFailoverOnDeadMember(t *testing.T) {
	alive := newBackend(t, "alive", nil)
	dead := freePort(t)
	proxy := freePort(t)
	_, fb := startLB(t, Options{})
	fb.send(&model.CompleteTopologyEvent{Topology: topology(proxy, clusterWith("php", "c", []string{"h"}, proxy,
		memberSpec{"a", "ci1", alive.port, model.MemberActive}, memberSpec{"b", "ci1", dead, model.MemberActive}))})
	for range 6 {
		if code, body := get(t, proxy, "h"); code != 200 || body != "alive" {
			t.Fatalf("%d %q", code, body)
		}
	}
}

func TestInFlightAverage(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "done")
	})
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	cep := &fakeCEP{}
	proxy := freePort(t)
	l, fb := startLB(t, Options{CEP: cep, Now: clock, NetworkPartitionID: "np-default"})
	fb.send(&model.CompleteTopologyEvent{Topology: topology(proxy,
		clusterWith("php", "busy", []string{"busy"}, proxy, memberSpec{"s", "busy-1", slow.port, model.MemberActive}),
		clusterWith("php", "empty", []string{"empty"}, proxy))})

	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { get(t, proxy, "busy") })
	}
	for range 3 {
		<-entered
	}
	advance(15 * time.Second)
	if err := l.publishStats(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(release)
	wg.Wait()
	advance(15 * time.Second)
	l.publishStats(context.Background())

	cep.mu.Lock()
	defer cep.mu.Unlock()
	type row struct {
		cluster, instance, np string
		v                     float64
	}
	var got []row
	for _, e := range cep.events {
		s, ok := e.HealthSample()
		if !ok || e.Stream.ID != model.InFlightStreamID {
			t.Fatalf("not an in-flight event: %+v", e)
		}
		got = append(got, row{s.ClusterID, s.ClusterInstanceID, s.NetworkPartitionID, s.Value})
	}
	want := map[row]bool{
		{"busy", "busy-1", "np1", 3}:                 true,
		{"empty", model.NotDefined, "np-default", 0}: true,
		{"busy", "busy-1", "np1", 0}:                 true,
	}
	if len(got) != 4 {
		t.Fatalf("events %v", got)
	}
	for _, r := range got {
		if !want[r] {
			t.Errorf("unexpected event %+v", r)
		}
	}
	if got[0] != (row{"busy", "busy-1", "np1", 3}) && got[1] != (row{"busy", "busy-1", "np1", 3}) {
		t.Errorf("first interval: %v", got[:2])
	}
}
