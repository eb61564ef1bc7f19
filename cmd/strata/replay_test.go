package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/manager"
)

func TestReplayFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no policy", args: []string{"--cluster", "c", "--policies", "d", "--clickhouse", "clickhouse://x/db"}, want: "want exactly one POLICY"},
		{name: "no cluster", args: []string{"as", "--policies", "d", "--clickhouse", "clickhouse://x/db"}, want: "--cluster is required"},
		{name: "no history", args: []string{"as", "--cluster", "c", "--policies", "d", "--clickhouse", ""}, want: "--clickhouse or --api is required"},
		{name: "bad time", args: []string{"as", "--cluster", "c", "--policies", "d", "--clickhouse", "clickhouse://x/db", "--from", "yesterday"}, want: `--from: "yesterday" is neither`},
		{name: "empty range", args: []string{"as", "--cluster", "c", "--policies", "d", "--clickhouse", "clickhouse://x/db", "--from", "-1h", "--to", "-2h"}, want: "is not before --to"},
		{name: "output", args: []string{"as", "--cluster", "c", "--policies", "d", "--clickhouse", "clickhouse://x/db", "--output", "yaml"}, want: `--output "yaml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut strings.Builder
			if code := runReplay(tt.args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut.String(), tt.want)
			}
		})
	}
}

func TestParseReplayTime(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name, in string
		want     time.Time
	}{
		{name: "now", in: "now", want: now},
		{name: "relative", in: "-1h30m", want: now.Add(-90 * time.Minute)},
		{name: "rfc3339", in: "2026-11-22T08:00:00Z", want: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseReplayTime(tt.in, now)
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("parseReplayTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// `strata policy replay --api` reads the history through the manager's /api/history: a recorded
// min check whose member the controller created 2 s later is replayed the same.
func TestReplayThroughAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "policies.yaml"), []byte(historyPolicies), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "manager.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	users, err := manager.NewUsers(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := users.EnsureAdmin("s3cret-pass"); err != nil {
		t.Fatal(err)
	}
	mem := history.NewMemory(history.Options{})
	const cluster = "app.web.php.domain"
	t0 := time.Now().Add(-10 * time.Minute).Truncate(time.Millisecond).UTC()
	trace := `{"trigger":"member-event","status":"Created","policy":"as","mode":"enforce","deployment":"dep","members":{"min":1,"max":2}}`
	mem.RecordDecision(model.Decision{ID: cluster + "-1", Time: t0, ClusterID: cluster, ClusterInstanceID: "web-1",
		NetworkPartitionID: "np1", Policy: "as", Mode: "enforce", Action: "min", NonTerminated: 1, Required: 1, Delta: 1,
		Reason: "min check: fewer non-terminated members than min", Trace: json.RawMessage(trace)})
	for i, ev := range []model.Event{
		&model.MemberCreatedEvent{ServiceName: "php", ClusterID: cluster, ClusterInstanceID: "web-1", NetworkPartitionID: "np1", PartitionID: "p1", MemberID: "m-1"},
		&model.MemberActivatedEvent{ServiceName: "php", ClusterID: cluster, ClusterInstanceID: "web-1", NetworkPartitionID: "np1", PartitionID: "p1", MemberID: "m-1"},
	} {
		r, _ := model.LifecycleOf(ev, t0.Add(time.Duration(2+18*i)*time.Second))
		mem.RecordLifecycle(r)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := manager.New(manager.Options{Listener: ln, Users: users, Logger: slog.New(slog.DiscardHandler), History: mem})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	var out, errOut strings.Builder
	args := []string{"as", "--cluster", cluster, "--policies", dir, "--api", "http://" + ln.Addr().String(),
		"--user", "admin", "--password", "s3cret-pass", "--from", "-1h"}
	if code := runReplay(args, &out, &errOut); code != 0 {
		t.Fatalf("strata policy replay --api = %d\n%s%s", code, out.String(), errOut.String())
	}
	t.Logf("strata policy replay --api:\n%s", out.String())
	if !strings.Contains(out.String(), "min +1") || !strings.Contains(out.String(), " 0 differences") {
		t.Errorf("want the min check and 0 differences:\n%s", out.String())
	}
	out.Reset()
	errOut.Reset()
	args[len(args)-3] = "wrong"
	if code := runReplay(args, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "401") {
		t.Errorf("wrong password: exit %d, %s; want 1 and the 401", code, errOut.String())
	}
}
