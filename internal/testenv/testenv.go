// Package testenv starts the real servers that integration tests run against: Mosquitto and
// ClickHouse. A test either gets a shared server that .ci/run started (named in the environment)
// or starts a private one on a free loopback port. When the server's binary is missing the test is
// skipped on a developer machine and fails in CI (CI is set), so CI never passes silently without it.
//
// It is imported only from _test.go files.
package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Environment variables .ci/run sets to share one server between test binaries.
const (
	EnvMosquitto  = "STRATA_TEST_MQTT"       // tcp://127.0.0.1:port
	EnvClickHouse = "STRATA_TEST_CLICKHOUSE" // 127.0.0.1:port (native protocol)
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. It is taken below the
// kernel's ephemeral range (ip_local_port_range), where a listener's port 0 and every outgoing
// connection's local port come from: a port handed out there could be taken by another test's
// client connection before the server that was given it binds it (tests run in parallel).
func FreePort(t testing.TB) int {
	t.Helper()
	// The same port must not be handed out twice: a test that asks for several ports before
	// starting a process must get distinct ones.
	portsMu.Lock()
	defer portsMu.Unlock()
	lo := ephemeralLow()
	for range 1000 {
		p := freePortMin + rand.IntN(lo-freePortMin)
		if portsGiven[p] || !claimPort(p) {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		l.Close()
		portsGiven[p] = true
		return p
	}
	t.Fatal("free port: no free port below the ephemeral range")
	return 0
}

// claimPort takes a lock that only this process holds on port p, for as long as it runs, so
// that test binaries running at the same time (go test ./... runs packages in parallel) never
// hand out the same port: a test that stops a server and starts it again on its port would
// otherwise find it taken by another package's server. It says true when the lock is ours, and
// also when no lock can be made (then only this process's own record guards the port).
func claimPort(p int) bool {
	dir := filepath.Join(os.TempDir(), "strata-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return true
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return false
	}
	heldPorts = append(heldPorts, f) // kept open: the lock lasts until the process ends
	return true
}

// freePortMin is the lowest port FreePort hands out (above the registered services below it).
const freePortMin = 20000

// ephemeralLow is the first port of the kernel's ephemeral range; 32768 when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if lo, err := strconv.Atoi(f[0]); err == nil && lo > freePortMin+1000 {
				return lo
			}
		}
	}
	return 32768
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
	heldPorts  []*os.File // claimPort's locks
)

// Program returns the path of the first of names installed (in PATH or /usr/sbin, /usr/bin,
// /usr/local/bin). None: the test is skipped, or fails under CI.
func Program(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin"} {
			p := filepath.Join(dir, n)
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	msg := fmt.Sprintf("%s not installed (apt-get install -y %s)", names[0], names[0])
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Server is a server process this package started. Stop and Start restart it on the same port,
// keeping its data, so tests can take it away and bring it back.
type Server struct {
	t    testing.TB
	args []string
	Port int
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	up   func() error // reports nil once the server answers
}

// Start starts the server and waits until it answers (up to 30 s).
func (s *Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(s.args[0], s.args[1:]...)
	cmd.Dir = s.dir
	out, err := os.OpenFile(filepath.Join(s.dir, "process.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", s.args[0], err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func() { _ = cmd.Wait(); out.Close(); close(s.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err = s.up(); err == nil {
			return
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "process.log"))
			s.t.Fatalf("%s exited at start: %s", s.args[0], tail(log))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s did not answer on port %d: %v", s.args[0], s.Port, err)
		}
	}
}

// Stop ends the server (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
	s.cmd = nil
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

func dialUp(port int) func() error {
	return func() error {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// StartMosquitto starts a private Mosquitto on a free loopback port, stopped at the end of the test.
func StartMosquitto(t testing.TB) *Server {
	t.Helper()
	return StartMosquittoWith(t, "allow_anonymous true\n")
}

// StartMosquittoWith starts a private Mosquitto like StartMosquitto with extra configuration
// lines in place of allow_anonymous (e.g. password_file and acl_file).
func StartMosquittoWith(t testing.TB, extra string) *Server {
	t.Helper()
	bin := Program(t, "mosquitto")
	dir := t.TempDir()
	port := FreePort(t)
	conf := fmt.Sprintf("listener %d 127.0.0.1\n%spersistence false\nmax_queued_messages 100000\nmax_inflight_messages 0\n", port, extra)
	if err := os.WriteFile(filepath.Join(dir, "mosquitto.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, args: []string{bin, "-c", filepath.Join(dir, "mosquitto.conf")}, Port: port, dir: dir, up: dialUp(port)}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// URL is the broker URL of a Mosquitto server.
func (s *Server) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", s.Port) }

// Addr is host:port of the server.
func (s *Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

// Mosquitto returns the URL of a Mosquitto broker: the shared one .ci/run started, or a private one.
func Mosquitto(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvMosquitto); u != "" {
		return u
	}
	return StartMosquitto(t).URL()
}

const clickhouseConfig = `<yandex>
  <logger><level>warning</level><log>{{dir}}/server.log</log><errorlog>{{dir}}/error.log</errorlog><console>0</console></logger>
  <tcp_port>{{tcp}}</tcp_port>
  <http_port>{{http}}</http_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{{dir}}/data/</path>
  <tmp_path>{{dir}}/tmp/</tmp_path>
  <user_files_path>{{dir}}/user_files/</user_files_path>
  <format_schema_path>{{dir}}/format_schemas/</format_schema_path>
  <users_config>{{dir}}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <mark_cache_size>268435456</mark_cache_size>
</yandex>
`

const clickhouseUsers = `<yandex>
  <profiles><default></default></profiles>
  <users><default><password></password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
`

// StartClickHouse starts a private ClickHouse server on free loopback ports, stopped at the end of
// the test. Addr is its native-protocol address.
func StartClickHouse(t testing.TB) *Server {
	t.Helper()
	bin := Program(t, "clickhouse-server")
	dir := t.TempDir()
	port, httpPort := FreePort(t), FreePort(t)
	conf := strings.NewReplacer("{{dir}}", dir, "{{tcp}}", strconv.Itoa(port), "{{http}}", strconv.Itoa(httpPort)).Replace(clickhouseConfig)
	if err := os.WriteFile(filepath.Join(dir, "config.xml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "users.xml"), []byte(clickhouseUsers), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, args: []string{bin, "--config-file=" + filepath.Join(dir, "config.xml")}, Port: port, dir: dir, up: clickhouseUp(port)}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// clickhouseUp checks the HTTP-independent readiness: the native port accepts and the server
// answers a ping through clickhouse-client when it is installed.
func clickhouseUp(port int) func() error {
	return func() error {
		if err := dialUp(port)(); err != nil {
			return err
		}
		client, err := exec.LookPath("clickhouse-client")
		if err != nil {
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return exec.CommandContext(ctx, client, "--host", "127.0.0.1", "--port", strconv.Itoa(port), "-q", "SELECT 1").Run()
	}
}

// ClickHouse returns the native address (host:port) of a ClickHouse server: the shared one
// .ci/run started, or a private one.
func ClickHouse(t testing.TB) string {
	t.Helper()
	if a := os.Getenv(EnvClickHouse); a != "" {
		return a
	}
	return StartClickHouse(t).Addr()
}

// Logger writes records at level and above to the test's output until the test ends; records
// logged later (by goroutines still stopping) are dropped rather than failing the test binary.
func Logger(t testing.TB, level slog.Level) *slog.Logger {
	w := &testWriter{w: t.Output()}
	t.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

type testWriter struct {
	mu   sync.Mutex
	w    io.Writer
	done atomic.Bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done.Load() {
		return len(p), nil
	}
	return w.w.Write(p)
}

// Buffer is a bytes.Buffer safe for concurrent use: a log sink that a test reads while the
// component under test still writes.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Eventually polls cond until it holds, and fails the test when it does not within the given
// time. Polls start 10 ms apart and back off to 200 ms.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for pause := 10 * time.Millisecond; !cond(); pause = min(2*pause, 200*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(pause)
	}
}

// Chromium returns the path of a Chromium (or Chrome) binary for browser tests; without one
// the test is skipped on a developer machine and fails in CI.
func Chromium(t testing.TB) string {
	t.Helper()
	return Program(t, "chromium", "chromium-browser", "google-chrome")
}

// LiveHeap is the live heap after a collection: what a test's structures cost is the difference
// of two readings around building them (runtime.KeepAlive them after the second).
func LiveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
