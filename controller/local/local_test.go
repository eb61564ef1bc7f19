package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// The test binary plays both processes of a member when LOCAL_TEST_FAKE=1: "agent" (what
// `strata agent --conf --payload` would be) and "server" (the cartridge's command).
func TestMain(m *testing.M) {
	if os.Getenv("LOCAL_TEST_FAKE") == "1" && len(os.Args) > 1 {
		switch os.Args[1] {
		case "agent":
			fakeAgent()
		case "server":
			fakeServer()
		}
		os.Exit(2)
	}
	os.Exit(m.Run())
}

func fakeAgent() {
	var conf, payloadPath string
	for i := 2; i+1 < len(os.Args); i += 2 {
		switch os.Args[i] {
		case "--conf":
			conf = os.Args[i+1]
		case "--payload":
			payloadPath = os.Args[i+1]
		}
	}
	f, err := os.Open(payloadPath)
	if err != nil {
		os.Exit(3)
	}
	p, err := model.ParsePayload(f)
	if err != nil {
		os.Exit(4)
	}
	confText, _ := os.ReadFile(conf)
	mode, _ := p.Get("FAKE_MODE")
	if mode == "ignore-term" {
		signal.Ignore(syscall.SIGTERM)
	}
	app, _ := p.Get(model.PayloadApplicationPath)
	listen, _ := p.Get("listen.address")
	out := fmt.Sprintf("app=%s\nlisten=%s\nconf=%s\n", app, listen, strings.ReplaceAll(string(confText), "\n", "|"))
	os.WriteFile(filepath.Join(os.Getenv(EnvMemberDir), "agent.ok"), []byte(out), 0o644)
	if mode == "exit" {
		os.Exit(7)
	}
	select {}
}

func fakeServer() {
	port := strings.Split(os.Getenv("PORTS"), "|")[0]
	l, err := net.Listen("tcp", net.JoinHostPort(os.Getenv(model.EnvMemberIP), port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(5)
	}
	for {
		c, err := l.Accept()
		if err != nil {
			os.Exit(6)
		}
		c.Close()
	}
}

func newDriver(t *testing.T, dir string) *Driver {
	t.Helper()
	d, err := New(Options{
		DataDir: dir, Executable: os.Args[0], Env: []string{"LOCAL_TEST_FAKE=1"},
		AgentConf:   "mb.urls = tcp://127.0.0.1:1883",
		GracePeriod: 300 * time.Millisecond, PollInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func instance(memberID string, port int, mode string) controller.Instance {
	p := model.Payload{{Key: "MEMBER_ID", Value: memberID}, {Key: "PORTS", Value: strconv.Itoa(port)},
		{Key: "APPLICATION_PATH", Value: "/var/www"}}
	if mode != "" {
		p.Set("FAKE_MODE", mode)
	}
	return controller.Instance{
		MemberID: memberID, ClusterID: "app.php.php.domain", ServiceName: "php",
		IaaS: &model.IaasProvider{Type: Type, Property: []model.NameValue{
			{Name: PropertyCommand, Value: model.String(fmt.Sprintf("exec %q server", os.Args[0]))},
		}},
		Payload: p,
	}
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, timeout, what, cond)
}

func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func readRecord(t *testing.T, d *Driver, id string) record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.opts.DataDir, id, "member.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// watch runs d.Watch and returns the channel of its reports.
func watch(t *testing.T, d *Driver) <-chan controller.Exit {
	ch := make(chan controller.Exit, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Watch(ctx, func(e controller.Exit) { ch <- e }); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return ch
}

// terminateAll stops whatever a test left running.
func terminateAll(t *testing.T, d *Driver) {
	t.Cleanup(func() {
		list, _ := d.List(context.Background())
		for _, s := range list {
			d.Terminate(context.Background(), s.InstanceID)
		}
	})
}

func TestStartTwoMembersOnOnePortThenTerminate(t *testing.T) {
	ctx := context.Background()
	d := newDriver(t, t.TempDir())
	terminateAll(t, d)
	exits := watch(t, d)
	port := testenv.FreePort(t)

	a, err := d.Start(ctx, instance("memberA", port, ""))
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Start(ctx, instance("memberB", port, ""))
	if err != nil {
		t.Fatal(err)
	}
	if a.PrivateIPs[0] != "127.0.0.2" || b.PrivateIPs[0] != "127.0.0.3" {
		t.Fatalf("private IPs %v %v", a.PrivateIPs, b.PrivateIPs)
	}
	// Both servers bind the cartridge's port, each on its own address.
	for _, s := range []controller.Started{a, b} {
		addr := net.JoinHostPort(s.PrivateIPs[0], strconv.Itoa(port))
		eventually(t, 10*time.Second, "server on "+addr, func() bool { return dialable(addr) })
	}
	// The agent got its own payload: its application path and listen address.
	okFile := filepath.Join(d.opts.DataDir, a.InstanceID, "agent.ok")
	eventually(t, 10*time.Second, "fake agent", func() bool { _, err := os.Stat(okFile); return err == nil })
	got, _ := os.ReadFile(okFile)
	mdir := filepath.Join(d.opts.DataDir, a.InstanceID)
	want := fmt.Sprintf("app=%s/app\nlisten=127.0.0.2\nconf=[agent]|listen.address = 127.0.0.2|APPLICATION_PATH = %[1]s/app|"+
		"log.file.paths = %[1]s/server.log|param.file.path = %[1]s/launch-params|mb.urls = tcp://127.0.0.1:1883|\n", mdir)
	if string(got) != want {
		t.Errorf("agent saw\n%s\nwant\n%s", got, want)
	}
	if list, _ := d.List(ctx); len(list) != 2 {
		t.Errorf("List = %v", list)
	}

	rec := readRecord(t, d, a.InstanceID)
	if err := d.Terminate(ctx, a.InstanceID); err != nil {
		t.Fatal(err)
	}
	if groupAlive(rec.Pgid) {
		t.Error("process group still alive after Terminate")
	}
	if _, err := os.Stat(filepath.Join(d.opts.DataDir, a.InstanceID)); !os.IsNotExist(err) {
		t.Errorf("member dir left: %v", err)
	}
	if list, _ := d.List(ctx); len(list) != 1 || list[0].MemberID != "memberB" {
		t.Errorf("List after terminate = %v", list)
	}
	if err := d.Terminate(ctx, a.InstanceID); !errors.Is(err, controller.ErrInstanceNotFound) {
		t.Errorf("second Terminate = %v", err)
	}
	// The freed address is given again.
	c, err := d.Start(ctx, instance("memberC", port, ""))
	if err != nil {
		t.Fatal(err)
	}
	if c.PrivateIPs[0] != "127.0.0.2" {
		t.Errorf("reused IP = %v", c.PrivateIPs)
	}
	select {
	case e := <-exits:
		t.Errorf("unexpected exit report %+v", e)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestTerminateKillsAfterGracePeriod(t *testing.T) {
	ctx := context.Background()
	d := newDriver(t, t.TempDir())
	terminateAll(t, d)
	s, err := d.Start(ctx, instance("stubborn", testenv.FreePort(t), "ignore-term"))
	if err != nil {
		t.Fatal(err)
	}
	okFile := filepath.Join(d.opts.DataDir, s.InstanceID, "agent.ok")
	eventually(t, 10*time.Second, "fake agent", func() bool { _, err := os.Stat(okFile); return err == nil })
	rec := readRecord(t, d, s.InstanceID)
	start := time.Now()
	if err := d.Terminate(ctx, s.InstanceID); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < d.opts.GracePeriod {
		t.Errorf("terminated in %v, before the grace period: SIGTERM was not ignored?", el)
	}
	if groupAlive(rec.Pgid) {
		t.Error("group survived SIGKILL")
	}
}

func TestDeathIsReported(t *testing.T) {
	ctx := context.Background()
	d := newDriver(t, t.TempDir())
	terminateAll(t, d)
	exits := watch(t, d)

	// The server dies: the member is over, its agent is stopped too.
	s, err := d.Start(ctx, instance("victim", testenv.FreePort(t), ""))
	if err != nil {
		t.Fatal(err)
	}
	rec := readRecord(t, d, s.InstanceID)
	var server procRecord
	for _, p := range rec.Processes {
		if p.Role == "server" {
			server = p
		}
	}
	eventually(t, 10*time.Second, "server up", func() bool { _, _, err := procStat(server.Pid); return err == nil })
	syscall.Kill(server.Pid, syscall.SIGKILL)
	select {
	case e := <-exits:
		if e.MemberID != "victim" || e.InstanceID != s.InstanceID || !strings.Contains(e.Reason, "server") {
			t.Errorf("exit %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("death not reported")
	}
	eventually(t, 10*time.Second, "group gone", func() bool { return !groupAlive(rec.Pgid) })
	if list, _ := d.List(ctx); len(list) != 0 {
		t.Errorf("List = %v", list)
	}
	if err := d.Terminate(ctx, s.InstanceID); !errors.Is(err, controller.ErrInstanceNotFound) {
		t.Errorf("Terminate of a dead member = %v", err)
	}

	// The agent exits by itself.
	s2, err := d.Start(ctx, instance("quitter", testenv.FreePort(t), "exit"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-exits:
		if e.InstanceID != s2.InstanceID || !strings.Contains(e.Reason, "agent: exit status 7") {
			t.Errorf("exit %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent exit not reported")
	}
}

// detach makes a driver forget its members without stopping them, as if its process had died.
func detach(d *Driver) {
	d.mu.Lock()
	for _, m := range d.members {
		m.gone = true
	}
	d.members = map[string]*member{}
	d.mu.Unlock()
}

func TestAdoptionAfterRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d1 := newDriver(t, dir)
	port := testenv.FreePort(t)
	s, err := d1.Start(ctx, instance("survivor", port, ""))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := d1.Start(ctx, instance("second", port, ""))
	if err != nil {
		t.Fatal(err)
	}
	rec := readRecord(t, d1, s.InstanceID)
	rec2 := readRecord(t, d1, s2.InstanceID)
	addr := net.JoinHostPort(s.PrivateIPs[0], strconv.Itoa(port))
	eventually(t, 10*time.Second, "server up", func() bool { return dialable(addr) })
	detach(d1)

	// A directory whose pid is alive but is not the member's (the test process itself, without
	// the marker) must not be adopted.
	st, _, err := procStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	impostor := record{InstanceID: "impostor", MemberID: "impostor", PrivateIP: "127.0.0.9", Pgid: 0,
		Processes: []procRecord{{Role: "agent", Pid: os.Getpid(), StartTime: st}}}
	os.MkdirAll(filepath.Join(dir, "impostor"), 0o755)
	if err := writeJSON(filepath.Join(dir, "impostor", "member.json"), impostor); err != nil {
		t.Fatal(err)
	}

	d2 := newDriver(t, dir)
	terminateAll(t, d2)
	exits := watch(t, d2)
	list, _ := d2.List(ctx)
	if len(list) != 2 {
		t.Fatalf("adopted %v, want survivor and second", list)
	}
	for _, l := range list {
		if l.MemberID != "survivor" && l.MemberID != "second" {
			t.Errorf("adopted %+v", l)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "impostor")); !os.IsNotExist(err) {
		t.Error("impostor directory not moved aside")
	}
	// A new member does not get an adopted member's address.
	s3, err := d2.Start(ctx, instance("third", port, ""))
	if err != nil {
		t.Fatal(err)
	}
	if s3.PrivateIPs[0] == s.PrivateIPs[0] || s3.PrivateIPs[0] == s2.PrivateIPs[0] {
		t.Errorf("address %s given twice", s3.PrivateIPs[0])
	}

	// An adopted member is terminated through its group.
	if err := d2.Terminate(ctx, s.InstanceID); err != nil {
		t.Fatal(err)
	}
	if groupAlive(rec.Pgid) || dialable(addr) {
		t.Error("adopted member still running after Terminate")
	}
	// An adopted member that dies is noticed by polling.
	syscall.Kill(-rec2.Pgid, syscall.SIGKILL)
	select {
	case e := <-exits:
		if e.MemberID != "second" {
			t.Errorf("exit %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("death of an adopted member not reported")
	}
}

func TestAddressAllocation(t *testing.T) {
	d, err := New(Options{DataDir: t.TempDir(), FirstIP: "127.0.0.254", LastIP: "127.0.1.1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for range 2 {
		a, err := d.allocIPLocked("")
		if err != nil {
			t.Fatal(err)
		}
		d.ips[a] = "x"
		got = append(got, a.String())
	}
	if got[0] != "127.0.0.254" || got[1] != "127.0.1.1" {
		t.Errorf("allocated %v: .255 and .0 must be skipped", got)
	}
	if _, err := d.allocIPLocked(""); err == nil {
		t.Error("no error when the range is used up")
	}
	if a, _ := d.allocIPLocked("127.0.9.9"); a.String() != "127.0.9.9" {
		t.Errorf("free hint not taken: %v", a)
	}
	if _, err := New(Options{DataDir: t.TempDir(), FirstIP: "127.0.0.9", LastIP: "127.0.0.2"}); err == nil {
		t.Error("reversed range accepted")
	}
}

// A relative DataDir (`strata up`'s default data dir is "strata-data") still gives the agent
// paths it can open: the agent runs in the member's directory, not in the caller's.
func TestRelativeDataDir(t *testing.T) {
	t.Chdir(t.TempDir())
	d := newDriver(t, "members")
	terminateAll(t, d)
	s, err := d.Start(context.Background(), instance("memberR", testenv.FreePort(t), ""))
	if err != nil {
		t.Fatal(err)
	}
	okFile := filepath.Join(d.opts.DataDir, s.InstanceID, "agent.ok")
	eventually(t, 10*time.Second, "fake agent reading its payload and agent.conf", func() bool { _, err := os.Stat(okFile); return err == nil })
	if got, _ := os.ReadFile(okFile); !strings.Contains(string(got), "conf=[agent]|") {
		t.Errorf("agent saw\n%s\nwant its agent.conf", got)
	}
}
