package agent

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

func TestProcHealth(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "meminfo"), "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    250 kB\n", 0o644)
	writeFile(t, filepath.Join(dir, "loadavg"), "1.50 0.80 0.40 2/300 1234\n", 0o644)
	mem, load, err := procHealth(dir)()
	if err != nil {
		t.Fatal(err)
	}
	if mem != 75 {
		t.Errorf("memory = %v, want 75", mem)
	}
	if want := 150 / float64(runtime.NumCPU()); math.Abs(load-want) > 1e-9 {
		t.Errorf("load = %v, want %v", load, want)
	}
	// Without MemAvailable: free + buffers + cached.
	writeFile(t, filepath.Join(dir, "meminfo"), "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 100 kB\nCached: 300 kB\n", 0o644)
	if mem, _, _ := procHealth(dir)(); mem != 50 {
		t.Errorf("memory without MemAvailable = %v, want 50", mem)
	}
	if _, _, err := procHealth(filepath.Join(dir, "nothing"))(); err == nil {
		t.Error("no error for a missing proc dir")
	}
	if _, _, err := procHealth("/proc")(); err != nil {
		t.Errorf("real /proc: %v", err)
	}
}

func TestTailer(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.log")
	writeFile(t, p, "before start\n", 0o644)
	tl := &tailer{path: p}
	defer tl.close()
	step := func(want ...string) {
		t.Helper()
		got, err := tl.lines()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("lines (-want +got):\n%s", diff)
		}
	}
	step() // positioned at the end
	appendTo := func(s string) {
		f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString(s)
		f.Close()
	}
	appendTo("one\ntw")
	step("one")
	appendTo("o\r\nthree\n")
	step("two", "three")
	// Truncated: read from the start.
	os.WriteFile(p, []byte("new\n"), 0o644)
	step("new")
	// Rotated: a new file (new inode) is read from its start.
	os.Rename(p, p+".1")
	writeFile(t, p, "rotated\n", 0o644)
	step("rotated")
	// Removed, then created again.
	os.Remove(p)
	step()
	writeFile(t, p, "again\n", 0o644)
	step("again")
}

func TestWaitPorts(t *testing.T) {
	_, open := listen(t, 0)
	l, closed := listen(t, 0)
	l.Close()
	ctx := context.Background()
	if err := waitPorts(ctx, testenv.Logger(t, slog.LevelInfo), "127.0.0.1", []int{open}, time.Second, 10*time.Millisecond); err != nil {
		t.Errorf("open port: %v", err)
	}
	start := time.Now()
	var logged testenv.Buffer
	err := waitPorts(ctx, slog.New(slog.NewTextHandler(&logged, nil)), "127.0.0.1", []int{open, closed}, 100*time.Millisecond, 10*time.Millisecond)
	if err == nil {
		t.Fatal("closed port reported open")
	}
	// Said once (the report repeats every 30 s), naming only the closed port.
	if out := logged.String(); strings.Count(out, "waiting for ports to open") != 1 || !strings.Contains(out, fmt.Sprintf("ports=[%d]", closed)) {
		t.Errorf("wait log %q, want one line naming port %d", out, closed)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timeout took %v", d)
	}
}

func TestEventValues(t *testing.T) {
	ev := &model.MemberActivatedEvent{ServiceName: "php", ClusterID: "c1", MemberID: "m1",
		MemberPrivateIPs: []string{"10.0.0.1", "10.0.0.2"}, DefaultPrivateIP: "10.0.0.1"}
	got := eventValues("MEMBER_ACTIVATED", ev)
	for k, want := range map[string]string{
		"MEMBER_ACTIVATED_SERVICE_NAME":       "php",
		"MEMBER_ACTIVATED_MEMBER_ID":          "m1",
		"MEMBER_ACTIVATED_MEMBER_PRIVATE_IPS": "10.0.0.1,10.0.0.2",
		"MEMBER_ACTIVATED_DEFAULT_PRIVATE_IP": "10.0.0.1",
		"MEMBER_ACTIVATED_PORT_MAP":           "{}",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	for in, want := range map[string]string{"memberId": "MEMBER_ID", "memberPublicIPs": "MEMBER_PUBLIC_IPS",
		"defaultPrivateIP": "DEFAULT_PRIVATE_IP", "repoURL": "REPO_URL", "x": "X"} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
	if got := envName("listen.address"); got != "listen_address" {
		t.Errorf("envName = %q", got)
	}
}
