package bench

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/app"
	"github.com/strata-paas/strata/internal/testenv"
)

// startScalePlatform starts the platform of `strata up` in this process on the mock IaaS, with
// its state in dataDir, the load balancer when lb is set, the fault timeout at an hour (silent
// mock members do not churn) and the admin password scaleAdmin, and waits until it is ready. It
// stops the platform when the test ends, and logs the platform's warnings if the test failed.
func startScalePlatform(t *testing.T, dataDir string, lb bool) (*app.App, context.Context) {
	t.Helper()
	logs := &testenv.Buffer{}
	opts := app.Options{
		DataDir:       dataDir,
		API:           "127.0.0.1:0",
		MQTTListen:    "127.0.0.1:0",
		AdminPassword: scaleAdmin,
		CEP:           app.CEPOptions{ThriftTLS: "127.0.0.1:0", FaultTimeout: time.Hour, StartupGrace: -1},
		Logger:        slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Stdout:        io.Discard,
	}
	if lb {
		opts.LB, opts.LBHost = true, "127.0.0.1"
	}
	app.SetDefaultGCPercent() // the collector's setting of strata up, which the figures are of
	a, err := app.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(time.Minute):
			t.Error("the platform did not stop within a minute")
		}
		if t.Failed() {
			t.Logf("platform log (warnings):\n%s", logs.String())
		}
	})
	select {
	case <-a.Ready():
	case err := <-done:
		t.Fatalf("platform: %v", err)
	case <-time.After(startTimeout):
		t.Fatal("the platform did not become ready")
	}
	return a, ctx
}

// scalePost is a definition the harness posts: a sample file with replacements (old, new, …).
type scalePost struct {
	path, file string
	replace    []string
}

// postScaleDefinitions posts each definition to api, as the admin, and fails unless it is created.
func postScaleDefinitions(t *testing.T, client *http.Client, api string, posts []scalePost) {
	t.Helper()
	for _, p := range posts {
		b, err := os.ReadFile(filepath.Join(samplesDir, p.file))
		if err != nil {
			t.Fatal(err)
		}
		body := strings.NewReplacer(p.replace...).Replace(string(b))
		if code, resp := scaleCall(t, client, http.MethodPost, api+p.path, body); code != http.StatusCreated {
			t.Fatalf("POST %s = %d %s, want 201", p.path, code, resp)
		}
	}
}
