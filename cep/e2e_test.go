package cep

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
)

// TestDataBridgeEndToEnd runs the engine behind a real data-bridge server and publishes with the
// data-bridge client as an agent would (TLS on the secure port): the server's decoder, its reused
// event slices and interned strings feed the windows, and the summaries match those of Ingest.
func TestDataBridgeEndToEnd(t *testing.T) {
	rec := &fakeRecorder{}
	e := newTestEngine(t, Options{Recorder: rec})
	cert, err := databridge.LoadOrCreateCertificate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := databridge.NewServer(databridge.ServerOptions{
		PlainAddr: "127.0.0.1:0", SecureAddr: "127.0.0.1:0",
		TLS:          databridge.ServerTLS(cert),
		Authenticate: databridge.StaticCredentials("admin", "admin"),
		Handler:      e,
		Logger:       quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server Run: %v", err)
		}
	}()
	ctls, err := databridge.ClientTLS(cert)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := databridge.NewClient(databridge.ClientOptions{URLs: []string{"ssl://" + srv.SecureAddr().String()},
		TLS: ctls, Username: "admin", Password: "admin", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	samples := workload(12, 4)
	want := newTestEngine(t, Options{})
	for round := range 4 {
		for i, s := range samples {
			s.Timestamp += int64(round) * 15000
			want.Ingest(s)
			ev := databridge.HealthEvent(s)
			if s.Metric == model.MetricRequestsInFlight {
				ev = databridge.InFlightEvent(s)
			}
			// Agents and the load balancer send one event per bundle.
			if err := cl.Publish(ctx, ev); err != nil {
				t.Fatalf("publish %d: %v", i, err)
			}
		}
	}
	// Publish returns once the server has handled the bundle.
	if st := e.Stats(); st.Ingested != uint64(4*len(samples)) || st.Unknown != 0 {
		t.Fatalf("engine stats after publishing %d events: %+v", 4*len(samples), st)
	}
	got, exp := tick(e, 1), tick(want, 1)
	if len(got) != len(exp) || len(got) == 0 {
		t.Fatalf("%d summaries over the data bridge, %d by Ingest", len(got), len(exp))
	}
	for i := range got {
		if got[i] != exp[i] {
			t.Fatalf("summary %d: %+v over the data bridge, %+v by Ingest", i, got[i], exp[i])
		}
	}
}
