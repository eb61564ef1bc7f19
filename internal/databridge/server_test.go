package databridge

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
	"github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/internal/databridge/gen"
	"github.com/strata-paas/strata/internal/model"
)

// recorder is a Handler that keeps copies of what it receives.
type recorder struct {
	mu     sync.Mutex
	events []Event
	ch     chan struct{}
}

func newRecorder() *recorder { return &recorder{ch: make(chan struct{}, 1024)} }

func (r *recorder) HandleEvents(evs []Event) {
	r.mu.Lock()
	for _, e := range evs {
		c := e
		c.Strings = append([]string(nil), e.Strings...)
		c.Longs = append([]int64(nil), e.Longs...)
		c.Doubles = append([]float64(nil), e.Doubles...)
		c.Ints = append([]int32(nil), e.Ints...)
		c.Bools = append([]bool(nil), e.Bools...)
		if e.Arbitrary != nil {
			c.Arbitrary = make(map[string]string, len(e.Arbitrary))
			for k, v := range e.Arbitrary {
				c.Arbitrary[k] = v
			}
		}
		r.events = append(r.events, c)
	}
	r.mu.Unlock()
	select {
	case r.ch <- struct{}{}:
	default:
	}
}

func (r *recorder) wait(t *testing.T, n int) []Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		if len(r.events) >= n {
			evs := append([]Event(nil), r.events...)
			r.mu.Unlock()
			return evs
		}
		r.mu.Unlock()
		select {
		case <-r.ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %d events", n)
		}
	}
}

var (
	testCertOnce sync.Once
	testCert     tls.Certificate
)

func certForTest(t testing.TB) tls.Certificate {
	testCertOnce.Do(func() {
		var err error
		testCert, err = LoadOrCreateCertificate(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
	})
	return testCert
}

type testServer struct {
	*Server
	rec    *recorder
	cancel context.CancelFunc
	done   chan error
}

func startServer(t testing.TB, mod func(*ServerOptions)) *testServer {
	t.Helper()
	rec := newRecorder()
	opts := ServerOptions{
		PlainAddr:    "127.0.0.1:0",
		SecureAddr:   "127.0.0.1:0",
		TLS:          ServerTLS(certForTest(t)),
		Authenticate: StaticCredentials("admin", "admin"),
		Handler:      rec,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&opts)
	}
	s, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Server: s, rec: rec, cancel: cancel, done: make(chan error, 1)}
	go func() { ts.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-ts.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return ts
}

func clientTLS(t testing.TB) *tls.Config {
	cfg, err := ClientTLS(certForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// genClient is a client built from the generated code, as a third-party publisher would be.
func genClient(t *testing.T, addr string, cfg *tls.Config) (*gen.ThriftSecureEventTransmissionServiceClient, thrift.TTransport) {
	t.Helper()
	conf := &thrift.TConfiguration{TLSConfig: cfg, ConnectTimeout: 5 * time.Second, SocketTimeout: 10 * time.Second}
	var sock thrift.TTransport
	if cfg != nil {
		sock = thrift.NewTSSLSocketConf(addr, conf)
	} else {
		sock = thrift.NewTSocketConf(addr, conf)
	}
	trans := thrift.NewTBufferedTransport(sock, 4096)
	if err := trans.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { trans.Close() })
	pf := thrift.NewTBinaryProtocolFactoryConf(conf)
	return gen.NewThriftSecureEventTransmissionServiceClientFactory(trans, pf), trans
}

func healthBundle(sid string, samples ...model.HealthSample) *gen.ThriftEventBundle {
	b := &gen.ThriftEventBundle{SessionId: &sid}
	n := int32(len(samples))
	b.EventNum = &n
	for _, s := range samples {
		b.StringAttributeList = append(b.StringAttributeList, model.HealthStreamID, s.ClusterID, s.ClusterInstanceID,
			s.NetworkPartitionID, s.MemberID, s.PartitionID, s.Metric)
		b.LongAttributeList = append(b.LongAttributeList, s.Timestamp)
		b.DoubleAttributeList = append(b.DoubleAttributeList, s.Value)
	}
	return b
}

var sample = model.HealthSample{
	ClusterID: "php.cluster", ClusterInstanceID: "ci-1", NetworkPartitionID: "np-1", MemberID: "m-1",
	PartitionID: "p-1", Metric: model.MetricLoadAverage, Value: 42.5, Timestamp: 1700000000123,
}

func TestGeneratedClientOverTLS(t *testing.T) {
	ts := startServer(t, nil)
	cl, _ := genClient(t, ts.SecureAddr().String(), clientTLS(t))
	ctx := context.Background()
	sid, err := cl.Connect(ctx, "admin", "admin")
	if err != nil {
		t.Fatal(err)
	}
	// The PCA's definition text (§2.4, PCAIT stratos-health-stream-def.json shape).
	def := `{"name":"cartridge_agent_health_stats","version":"1.0.0","nickName":"agent health stats",` +
		`"description":"agent health stats","payloadData":[{"name":"cluster_id","type":"STRING"},` +
		`{"name":"cluster_instance_id","type":"STRING"},{"name":"network_partition_id","type":"STRING"},` +
		`{"name":"member_id","type":"STRING"},{"name":"partition_id","type":"STRING"},` +
		`{"name":"health_description","type":"STRING"},{"name":"value","type":"DOUBLE"}]}`
	id, err := cl.DefineStream(ctx, sid, def)
	if err != nil {
		t.Fatal(err)
	}
	if id != model.HealthStreamID {
		t.Fatalf("stream id = %q, want %q", id, model.HealthStreamID)
	}
	other := sample
	other.Metric, other.Value = model.MetricMemoryConsumption, 61.25
	if err := cl.Publish(ctx, healthBundle(sid, sample, other)); err != nil {
		t.Fatal(err)
	}
	evs := ts.rec.wait(t, 2)
	var got []model.HealthSample
	for _, e := range evs {
		s, ok := e.HealthSample()
		if !ok {
			t.Fatalf("not a health event: %+v", e)
		}
		got = append(got, s)
	}
	if diff := cmp.Diff([]model.HealthSample{sample, other}, got); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
	if f, err := cl.FindStreamId(ctx, sid, "cartridge_agent_health_stats", "1.0.0"); err != nil || f != model.HealthStreamID {
		t.Errorf("findStreamId = %q, %v", f, err)
	}
	if err := cl.Disconnect(ctx, sid); err != nil {
		t.Fatal(err)
	}
	err = cl.Publish(ctx, healthBundle(sid, sample))
	var se *gen.ThriftSessionExpiredException
	if !errors.As(err, &se) {
		t.Fatalf("publish after disconnect: %v, want ThriftSessionExpiredException", err)
	}
	if st := ts.Stats(); st.Events != 2 || st.Bundles != 1 {
		t.Errorf("stats = %+v", st)
	}
}

func TestClientRoundTrip(t *testing.T) {
	ts := startServer(t, nil)
	c, err := NewClient(ClientOptions{URLs: []string{"ssl://" + ts.SecureAddr().String()}, TLS: clientTLS(t),
		Username: "admin", Password: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	mixed := &StreamDefinition{ID: "mixed:2.0", Name: "mixed", Version: "2.0",
		Meta:        []Attribute{{"host", TypeString}, {"pid", TypeInt}},
		Correlation: []Attribute{{"trace", TypeLong}},
		Payload:     []Attribute{{"ok", TypeBool}, {"ratio", TypeFloat}, {"msg", TypeString}, {"d", TypeDouble}, {"n", TypeLong}}}
	if id, err := c.Define(ctx, mixed); err != nil || id != "mixed:2.0" {
		t.Fatalf("define = %q, %v", id, err)
	}
	want := []Event{
		HealthEvent(sample),
		{Stream: mixed, Timestamp: 7, Strings: []string{"h1", "hello"}, Ints: []int32{1234}, Longs: []int64{99, -5},
			Bools: []bool{true}, Doubles: []float64{0.5, 2.25}, Arbitrary: map[string]string{"k": "v"}},
		InFlightEvent(model.HealthSample{ClusterID: "c", ClusterInstanceID: model.NotDefined, NetworkPartitionID: "np", Value: 3}),
		{Stream: mixed, Timestamp: 8, Strings: []string{"h2", ""}, Ints: []int32{-1}, Longs: []int64{1, 2},
			Bools: []bool{false}, Doubles: []float64{1, 2}},
	}
	if err := c.Publish(ctx, want...); err != nil {
		t.Fatal(err)
	}
	got := ts.rec.wait(t, len(want))
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b *StreamDefinition) bool { return a.ID == b.ID })); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestClientRedefinesForgottenStream(t *testing.T) {
	ts := startServer(t, nil)
	c, err := NewClient(ClientOptions{URLs: []string{ts.SecureAddr().String()}, TLS: clientTLS(t),
		Username: "admin", Password: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	logs := LogStream("logs.0.app.2026.01.01")
	if err := c.Publish(ctx, LogEvent(logs, model.LogEntry{Message: "one"})); err != nil {
		t.Fatal(err)
	}
	if !ts.deleteStream(logs.ID) {
		t.Fatal("stream was not defined")
	}
	if err := c.Publish(ctx, LogEvent(logs, model.LogEntry{Message: "two"})); err != nil {
		t.Fatalf("publish after the receiver forgot the stream: %v", err)
	}
	if ts.Stream(logs.ID) == nil {
		t.Error("stream not defined again")
	}
	ts.rec.wait(t, 2)
}
