package cep

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// workload is a set of samples like one window of a cluster: health stats of members spread over
// cluster instances, and the load balancer's in-flight counts per cluster instance.
func workload(members, perInstance int) []model.HealthSample {
	var out []model.HealthSample
	for i := range members {
		ci := fmt.Sprintf("app-%d", i/perInstance)
		m := fmt.Sprintf("app.php.php.domain%08x-1c2d-4e5f-8a9b-0c1d2e3f4a5b", i)
		out = append(out,
			health(m, ci, "np1", model.MetricMemoryConsumption, float64(i%100), int64(i)),
			health(m, ci, "np1", model.MetricLoadAverage, float64(i%50), int64(i)))
		if i%perInstance == 0 {
			out = append(out, rif(ci, "np1", float64(i%7), int64(i)))
		}
	}
	return out
}

// endWindow ends the window without keeping the output (the output slice is reused).
func endWindow(e *Engine, now int64) {
	e.mu.Lock()
	e.tickLocked(now)
	clear(e.out)
	e.out = e.out[:0]
	e.mu.Unlock()
}

// TestAllocsIngest pins the hot path: no allocation per ingested event (window update and history
// hand-off included) and none per window end, once keys exist and buffers have grown.
func TestAllocsIngest(t *testing.T) {
	e := newTestEngine(t, Options{Recorder: &fakeRecorder{}})
	samples := workload(50, 10)
	round := func() {
		for range 4 { // four publications per window, as agents do every 15 s
			for i := range samples {
				e.Ingest(samples[i])
			}
		}
	}
	drainRaw := func() {
		e.mu.Lock()
		e.raw = e.raw[:0]
		e.mu.Unlock()
	}
	window := func() { round(); drainRaw(); endWindow(e, 1) }
	for range 3 {
		window()
	}
	if a := testing.AllocsPerRun(20, window); a != 0 {
		t.Errorf("ingest and window end: %v allocations per window of %d events, want 0", a, 4*len(samples))
	}
}

func healthDefinition() *databridge.StreamDefinition {
	s := databridge.TypeString
	return &databridge.StreamDefinition{
		ID: model.HealthStreamID, Name: "cartridge_agent_health_stats", Version: "1.0.0",
		Payload: []databridge.Attribute{{Name: "cluster_id", Type: s}, {Name: "cluster_instance_id", Type: s}, {Name: "network_partition_id", Type: s},
			{Name: "member_id", Type: s}, {Name: "partition_id", Type: s}, {Name: "health_description", Type: s}, {Name: "value", Type: databridge.TypeDouble}},
	}
}

func inFlightDefinition() *databridge.StreamDefinition {
	s := databridge.TypeString
	return &databridge.StreamDefinition{
		ID: model.InFlightStreamID, Name: "in_flight_requests", Version: "1.0.0",
		Payload: []databridge.Attribute{{Name: "cluster_id", Type: s}, {Name: "cluster_instance_id", Type: s}, {Name: "network_partition_id", Type: s},
			{Name: "in_flight_request_count", Type: databridge.TypeDouble}},
	}
}

// bundle turns samples into data-bridge events as the decoder delivers them.
func bundle(samples []model.HealthSample) []databridge.Event {
	hd, fd := healthDefinition(), inFlightDefinition()
	evs := make([]databridge.Event, len(samples))
	for i, s := range samples {
		if s.Metric == model.MetricRequestsInFlight {
			evs[i] = databridge.Event{Stream: fd, Timestamp: s.Timestamp,
				Strings: []string{s.ClusterID, s.ClusterInstanceID, s.NetworkPartitionID}, Doubles: []float64{s.Value}}
			continue
		}
		evs[i] = databridge.Event{Stream: hd, Timestamp: s.Timestamp,
			Strings: []string{s.ClusterID, s.ClusterInstanceID, s.NetworkPartitionID, s.MemberID, s.PartitionID, s.Metric},
			Doubles: []float64{s.Value}}
	}
	return evs
}

// TestHandleEvents: data-bridge events become the same samples as Ingest, without allocating.
func TestHandleEvents(t *testing.T) {
	samples := workload(20, 5)
	a := newTestEngine(t, Options{})
	b := newTestEngine(t, Options{})
	for _, s := range samples {
		a.Ingest(s)
	}
	evs := bundle(samples)
	b.HandleEvents(evs)
	wa, wb := tick(a, 1), tick(b, 1)
	if len(wa) == 0 || len(wa) != len(wb) {
		t.Fatalf("Ingest gave %d summaries, HandleEvents %d", len(wa), len(wb))
	}
	for i := range wa {
		if wa[i] != wb[i] {
			t.Fatalf("summary %d: Ingest %+v, HandleEvents %+v", i, wa[i], wb[i])
		}
	}
	window := func() {
		for range 4 {
			b.HandleEvents(evs)
		}
		endWindow(b, 2)
	}
	window()
	window()
	if n := testing.AllocsPerRun(20, window); n != 0 {
		t.Errorf("HandleEvents: %v allocations per window of 4 bundles of %d events, want 0", n, len(evs))
	}
	// Malformed events and unknown streams are counted, not fatal.
	bad := []databridge.Event{
		{Stream: healthDefinition(), Strings: []string{"c"}, Doubles: []float64{1}},
		{Stream: &databridge.StreamDefinition{ID: "x:1", Name: "x"}},
		{Stream: nil},
		{Stream: &databridge.StreamDefinition{ID: "cartridge_agent_health_stats:2", Name: "cartridge_agent_health_stats"}},
	}
	before := b.Stats().Unknown
	b.HandleEvents(bad)
	if got := b.Stats().Unknown - before; got != uint64(len(bad)) {
		t.Errorf("unknown counted %d, want %d", got, len(bad))
	}
}

// TestLogStream: logs.* events go to history as LogEntry, logTime as a string or a long.
func TestLogStream(t *testing.T) {
	rec := &fakeRecorder{}
	e := newTestEngine(t, Options{Recorder: rec})
	s := databridge.TypeString
	names := []string{"tenantID", "serverName", "appName", "logTime", "priority", "message", "logger", "ip", "instance", "stacktrace"}
	pca := &databridge.StreamDefinition{ID: "logs.0.app.2026.11.23:1.0.0", Name: "logs.0.app.2026.11.23", Version: "1.0.0",
		Meta: []databridge.Attribute{{Name: "memberId", Type: s}}}
	jca := &databridge.StreamDefinition{ID: "logs.0.app.2026-11-23:1.0.0", Name: "logs.0.app.2026-11-23", Version: "1.0.0",
		Meta: []databridge.Attribute{{Name: "memberId", Type: s}}}
	for _, n := range names {
		pca.Payload = append(pca.Payload, databridge.Attribute{Name: n, Type: s})
		t := s
		if n == "logTime" {
			t = databridge.TypeLong
		}
		jca.Payload = append(jca.Payload, databridge.Attribute{Name: n, Type: t})
	}
	e.HandleEvents([]databridge.Event{
		{Stream: pca, Timestamp: 5, Strings: []string{"m1", "0", "", "", "2026.11.23", "", "hello", "", "", "m1", ""}},
		{Stream: jca, Timestamp: 6, Strings: []string{"m2", "0", "srv", "", "INFO", "world", "lg", "10.0.0.1", "m2", ""}, Longs: []int64{1700000000000}},
	})
	got := e.logs.take(nil)
	want := []model.LogEntry{
		{Stream: pca.Name, MemberID: "m1", TenantID: "0", LogTime: "2026.11.23", Message: "hello", Instance: "m1", Timestamp: 5},
		{Stream: jca.Name, MemberID: "m2", TenantID: "0", ServerName: "srv", LogTime: "1700000000000", Priority: "INFO",
			Message: "world", Logger: "lg", IP: "10.0.0.1", Instance: "m2", Timestamp: 6},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("log entries\n got %+v\nwant %+v", got, want)
	}
}

// TestState100kMembers checks the memory bound: the state of 100 000 watched members with a full
// window each stays under 200 MiB.
func TestState100kMembers(t *testing.T) {
	if testing.Short() {
		t.Skip("loads 100k members")
	}
	mib, _ := load100k(t)
	t.Logf("state of 100k members: %.1f MiB", mib)
	if mib >= 200 {
		t.Errorf("state of 100k members = %.1f MiB, want < 200", mib)
	}
}

// load100k fills an engine with 100 000 members (100 per cluster instance) and one window of
// their events, and returns the heap it holds in MiB.
func load100k(tb testing.TB) (float64, *Engine) {
	const members, perInstance = 100_000, 100
	before := testenv.LiveHeap()
	e := newTestEngine(tb, Options{})
	func() {
		samples := workload(members, perInstance)
		seed := make([]Member, 0, members)
		for _, s := range samples {
			if s.Metric == model.MetricLoadAverage {
				seed = append(seed, Member{ClusterID: s.ClusterID, ClusterInstanceID: s.ClusterInstanceID,
					NetworkPartitionID: s.NetworkPartitionID, PartitionID: s.PartitionID, MemberID: s.MemberID, Active: true})
			}
		}
		e.SeedTopology(seed)
		for range 4 {
			for i := range samples {
				e.Ingest(samples[i])
			}
		}
	}()
	after := testenv.LiveHeap()
	if n := e.Stats().Members; n != members {
		tb.Fatalf("members = %d, want %d", n, members)
	}
	return float64(after-before) / (1 << 20), e
}

// TestCanonicalStreams: the stream definitions and event builders of the databridge package (what
// the server defines at start and agents publish) reach the engine intact.
func TestCanonicalStreams(t *testing.T) {
	rec := &fakeRecorder{}
	e := newTestEngine(t, Options{Recorder: rec})
	samples := workload(10, 5)
	var evs []databridge.Event
	for _, s := range samples {
		if s.Metric == model.MetricRequestsInFlight {
			evs = append(evs, databridge.InFlightEvent(s))
		} else {
			evs = append(evs, databridge.HealthEvent(s))
		}
	}
	logDef := databridge.LogStream(databridge.LogStreamName("-1234", "app.php.domain", time.Unix(0, 0)))
	entry := model.LogEntry{Stream: logDef.Name, MemberID: "m1", TenantID: "0", LogTime: "1970.01.01",
		Message: "started", Instance: "m1", Timestamp: 9}
	evs = append(evs, databridge.LogEvent(logDef, entry))
	e.HandleEvents(evs)

	e.mu.Lock()
	raw := slices.Clone(e.raw)
	e.mu.Unlock()
	for i := range samples {
		if samples[i].Metric == model.MetricRequestsInFlight {
			samples[i].MemberID, samples[i].PartitionID = "", ""
		}
	}
	if !slices.Equal(raw, samples) {
		t.Errorf("samples differ from what was published:\n got %+v\nwant %+v", raw, samples)
	}
	if got := e.logs.take(nil); len(got) != 1 || got[0] != entry {
		t.Errorf("log entries %+v, want [%+v]", got, entry)
	}
	if st := e.Stats(); st.Unknown != 0 || st.Ingested != uint64(len(samples)) || st.Logs != 1 {
		t.Errorf("stats %+v", st)
	}
}
