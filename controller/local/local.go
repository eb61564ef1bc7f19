package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
)

// Type is the IaaS type this driver serves: a cartridge's iaasProvider entry and a network
// partition's provider name it.
const Type = "local"

// PropertyCommand is the iaasProvider property that holds a cartridge's server command, run with
// /bin/sh -c.
const PropertyCommand = "command"

// PropertyExtensions is the iaasProvider property naming a directory of agent extension scripts
// (<Event>.sh) for the cartridge's members.
const PropertyExtensions = "extensions"

// MarkerEnv is set in the environment of every process of a member to the member id; adoption
// checks it in /proc/<pid>/environ, so a recycled pid is never mistaken for a member.
const MarkerEnv = "STRATA_LOCAL_MEMBER"

// Environment variables the server command receives besides the payload's keys.
const (
	EnvMemberIP  = "STRATA_MEMBER_IP"  // the member's loopback address, to bind the ports on
	EnvMemberDir = "STRATA_MEMBER_DIR" // the member's directory
)

// Defaults of Options.
const (
	DefaultGracePeriod  = 10 * time.Second
	DefaultPollInterval = time.Second
	DefaultFirstIP      = "127.0.0.2"
	DefaultLastIP       = "127.0.255.254"
)

// Options configure a Driver.
type Options struct {
	// DataDir holds one directory per member (DataDir/<instance id>/); a relative path is made
	// absolute. Required.
	DataDir string
	// Executable is the strata binary the agent runs from; default os.Executable().
	Executable string
	// AgentArgs builds the agent's arguments from the paths of its agent.conf and launch-params;
	// default: agent --conf <conf> --payload <payload>.
	AgentArgs func(conf, payload string) []string
	// AgentConf is added to every member's agent.conf under [agent] (key = value lines), e.g.
	// mb.urls or timings.
	AgentConf string
	// Env is added to the environment of the agent and of the server command.
	Env []string
	// GracePeriod is how long Terminate waits after SIGTERM before SIGKILL.
	GracePeriod time.Duration
	// PollInterval is how often adopted processes (whose parent is gone) are checked for life.
	PollInterval time.Duration
	// FirstIP and LastIP bound the loopback addresses given to members (default 127.0.0.2 to
	// 127.0.255.254; every 127/8 address reaches the loopback interface on Linux).
	FirstIP, LastIP string
	// Logger receives the driver's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock of exit reports; default time.Now.
	Now func() time.Time
}

// Driver runs every member as a local process group: `strata agent` (the group leader) and the
// cartridge's server command. It implements controller.Driver and controller.Watcher.
type Driver struct {
	opts    Options
	log     *slog.Logger
	first   netip.Addr
	last    netip.Addr
	exitsCh chan struct{} // capacity 1: exits were queued

	mu      sync.Mutex // guards everything below
	members map[string]*member
	ips     map[netip.Addr]string // address -> instance id
	exits   []controller.Exit
	stops   int        // ended members whose groups are being stopped; Watch waits for them
	stopped *sync.Cond // on mu: signalled when stops drops to 0
}

var (
	_ controller.Driver  = (*Driver)(nil)
	_ controller.Watcher = (*Driver)(nil)
)

// record is member.json in the member's directory.
type record struct {
	InstanceID  string       `json:"instanceId"`
	MemberID    string       `json:"memberId"`
	PrivateIP   string       `json:"privateIp"`
	Pgid        int          `json:"pgid"`
	Processes   []procRecord `json:"processes"`
	StartedUnix int64        `json:"startedUnix"`
}

type procRecord struct {
	Role      string `json:"role"` // "agent" or "server"
	Pid       int    `json:"pid"`
	StartTime uint64 `json:"startTime"` // /proc/<pid>/stat field 22, against pid reuse
}

// member is a running member. Fields other than rec and dir are guarded by Driver.mu.
type member struct {
	rec         record
	dir         string
	ip          netip.Addr
	adopted     bool          // started by an earlier driver: polled, not waited for
	done        chan struct{} // closed when every process this driver started has been waited for
	terminating bool
	gone        bool // its exit has been handled
}

// New checks the options, creates DataDir, and adopts the members a previous driver left
// running (verified through /proc); directories of members that are gone are moved aside.
func New(o Options) (*Driver, error) {
	if o.DataDir == "" {
		return nil, errors.New("local: no DataDir")
	}
	// The agent runs in the member's directory and gets the paths of its files: they must not be
	// relative to this process's working directory.
	abs, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("local: data dir: %w", err)
	}
	o.DataDir = abs
	if o.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("local: executable: %w", err)
		}
		o.Executable = exe
	}
	if o.AgentArgs == nil {
		o.AgentArgs = func(conf, payload string) []string {
			return []string{"agent", "--conf", conf, "--payload", payload}
		}
	}
	if o.GracePeriod <= 0 {
		o.GracePeriod = DefaultGracePeriod
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.FirstIP == "" {
		o.FirstIP = DefaultFirstIP
	}
	if o.LastIP == "" {
		o.LastIP = DefaultLastIP
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	first, err1 := netip.ParseAddr(o.FirstIP)
	last, err2 := netip.ParseAddr(o.LastIP)
	if err := errors.Join(err1, err2); err != nil || !first.Is4() || !last.Is4() || last.Less(first) {
		return nil, fmt.Errorf("local: bad address range %s-%s: %w", o.FirstIP, o.LastIP, err)
	}
	if err := os.MkdirAll(o.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("local: data dir: %w", err)
	}
	d := &Driver{
		opts: o, log: o.Logger.With("component", "local_driver"), first: first, last: last,
		exitsCh: make(chan struct{}, 1), members: map[string]*member{}, ips: map[netip.Addr]string{},
	}
	d.stopped = sync.NewCond(&d.mu)
	if err := d.adopt(); err != nil {
		return nil, err
	}
	return d, nil
}

// adopt reads every member directory and keeps the members whose processes still run.
func (d *Driver) adopt() error {
	entries, err := os.ReadDir(d.opts.DataDir)
	if err != nil {
		return fmt.Errorf("local: read data dir: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		dir := filepath.Join(d.opts.DataDir, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, "member.json"))
		if err != nil {
			d.log.Warn("member directory without member.json; moved aside", "dir", dir)
			d.retire(dir)
			continue
		}
		var rec record
		if err := json.Unmarshal(b, &rec); err != nil {
			d.log.Warn("bad member.json; moved aside", "dir", dir, "error", err)
			d.retire(dir)
			continue
		}
		ip, _ := netip.ParseAddr(rec.PrivateIP)
		if !d.alive(&rec) {
			d.log.Info("member ended while the driver was down", "member_id", rec.MemberID)
			killGroup(rec.Pgid, syscall.SIGKILL) // whatever is left of it
			d.retire(dir)
			continue
		}
		m := &member{rec: rec, dir: dir, ip: ip, adopted: true, done: make(chan struct{})}
		d.members[rec.InstanceID] = m
		d.ips[ip] = rec.InstanceID
		d.log.Info("member adopted", "member_id", rec.MemberID, "pgid", rec.Pgid, "ip", rec.PrivateIP)
	}
	return nil
}

// alive reports whether every recorded process still runs and is the member's (same start time,
// marker in its environment).
func (d *Driver) alive(rec *record) bool {
	if len(rec.Processes) == 0 {
		return false
	}
	for _, p := range rec.Processes {
		st, state, err := procStat(p.Pid)
		if err != nil || st != p.StartTime || state == 'Z' || state == 'X' {
			return false
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p.Pid))
		if err != nil || !bytes.Contains(env, []byte("\x00"+MarkerEnv+"="+rec.MemberID+"\x00")) &&
			!bytes.HasPrefix(env, []byte(MarkerEnv+"="+rec.MemberID+"\x00")) {
			return false
		}
	}
	return true
}

// retire moves a member directory to DataDir/.ended/ so its logs stay for a post-mortem.
func (d *Driver) retire(dir string) {
	ended := filepath.Join(d.opts.DataDir, ".ended")
	os.MkdirAll(ended, 0o755)
	dst := filepath.Join(ended, filepath.Base(dir)+"-"+strconv.FormatInt(d.opts.Now().UnixNano(), 36))
	if err := os.Rename(dir, dst); err != nil {
		os.RemoveAll(dir)
	}
}

// instanceID turns a member id into a directory name.
func instanceID(memberID string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, memberID)
}

// allocIPLocked returns the lowest free address of the range, or the hint when it is free.
func (d *Driver) allocIPLocked(hint string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(hint); err == nil && a.IsLoopback() {
		if _, used := d.ips[a]; !used {
			return a, nil
		}
	}
	for a := d.first; !d.last.Less(a); a = a.Next() {
		if b := a.As4(); b[3] == 0 || b[3] == 255 {
			continue
		}
		if _, used := d.ips[a]; !used {
			return a, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("local: no free loopback address in %s-%s", d.first, d.last)
}

// Start writes the member's directory (launch-params, agent.conf, member.json) and starts the
// agent as a process group leader and the cartridge's command in the same group.
func (d *Driver) Start(ctx context.Context, in controller.Instance) (controller.Started, error) {
	id := instanceID(in.MemberID)
	if id == "" {
		return controller.Started{}, errors.New("local: empty member id")
	}
	d.mu.Lock()
	if _, dup := d.members[id]; dup {
		d.mu.Unlock()
		return controller.Started{}, fmt.Errorf("local: member %s already runs", in.MemberID)
	}
	ip, err := d.allocIPLocked(in.PrivateIP)
	if err != nil {
		d.mu.Unlock()
		return controller.Started{}, err
	}
	d.ips[ip] = id // reserved while starting
	d.mu.Unlock()

	if _, err := d.start(ctx, in, id, ip); err != nil {
		d.mu.Lock()
		delete(d.ips, ip)
		d.mu.Unlock()
		return controller.Started{}, err
	}
	return controller.Started{InstanceID: id, MemberID: in.MemberID, PrivateIPs: []string{ip.String()}}, nil
}

func (d *Driver) start(ctx context.Context, in controller.Instance, id string, ip netip.Addr) (*member, error) {
	dir := filepath.Join(d.opts.DataDir, id)
	if _, err := os.Stat(dir); err == nil {
		d.retire(dir) // a leftover of a member that never finished starting
	}
	appDir := filepath.Join(dir, "app")
	if err := os.MkdirAll(appDir, 0o755); err != nil {
		return nil, fmt.Errorf("local: member dir: %w", err)
	}
	fail := func(err error) (*member, error) {
		os.RemoveAll(dir)
		return nil, err
	}

	// The payload, adjusted for a member that shares the host with its peers: its own
	// application path, its own address to check the ports on, and its server's output as its log.
	payload := append(model.Payload(nil), in.Payload...)
	payload.Set(model.PayloadApplicationPath, appDir)
	payload.Set("listen.address", ip.String())
	if v, ok := payload.Get(model.PayloadLogFilePaths); !ok || v == "" || v == "null" {
		payload.Set(model.PayloadLogFilePaths, filepath.Join(dir, "server.log"))
	}
	payloadPath := filepath.Join(dir, "launch-params")
	if err := writeFile(payloadPath, func(f *os.File) error { _, err := payload.WriteTo(f); return err }); err != nil {
		return fail(fmt.Errorf("local: write launch-params: %w", err))
	}
	var conf strings.Builder
	conf.WriteString("[agent]\n")
	var command string
	if in.IaaS != nil {
		command, _ = model.LookupProperty(in.IaaS.Property, PropertyCommand)
		if ext, ok := model.LookupProperty(in.IaaS.Property, PropertyExtensions); ok && ext != "" {
			fmt.Fprintf(&conf, "extensions.dir = %s\n", ext)
		}
	}
	if s := strings.TrimSpace(d.opts.AgentConf); s != "" {
		conf.WriteString(s + "\n")
	}
	confPath := filepath.Join(dir, "agent.conf")
	if err := writeFile(confPath, func(f *os.File) error { _, err := f.WriteString(conf.String()); return err }); err != nil {
		return fail(fmt.Errorf("local: write agent.conf: %w", err))
	}

	if err := checkProgram(command); err != nil {
		return fail(fmt.Errorf("local: cartridge %s: %w", in.ServiceName, err))
	}

	marker := MarkerEnv + "=" + in.MemberID
	base := append(append(os.Environ(), d.opts.Env...), marker, EnvMemberIP+"="+ip.String(), EnvMemberDir+"="+dir)
	agentLog, err := os.OpenFile(filepath.Join(dir, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fail(fmt.Errorf("local: agent log: %w", err))
	}
	defer agentLog.Close()
	agent := exec.Command(d.opts.Executable, d.opts.AgentArgs(confPath, payloadPath)...)
	agent.Dir = dir
	agent.Env = base
	agent.Stdout, agent.Stderr = agentLog, agentLog
	agent.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := agent.Start(); err != nil {
		return fail(fmt.Errorf("local: start agent %s: %w", d.opts.Executable, err))
	}
	pgid := agent.Process.Pid
	cmds := []*exec.Cmd{agent}
	roles := []string{"agent"}
	if command != "" {
		serverLog, err := os.OpenFile(filepath.Join(dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			killGroup(pgid, syscall.SIGKILL)
			agent.Wait()
			return fail(fmt.Errorf("local: server log: %w", err))
		}
		defer serverLog.Close()
		srv := exec.Command("/bin/sh", "-c", command)
		srv.Dir = appDir
		srv.Env = append(append([]string(nil), base...), payloadEnv(payload)...)
		srv.Stdout, srv.Stderr = serverLog, serverLog
		srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pgid: pgid}
		if err := srv.Start(); err != nil {
			killGroup(pgid, syscall.SIGKILL)
			agent.Wait()
			return fail(fmt.Errorf("local: start server command: %w", err))
		}
		cmds = append(cmds, srv)
		roles = append(roles, "server")
	}
	m := &member{
		dir: dir, ip: ip, done: make(chan struct{}),
		rec: record{InstanceID: id, MemberID: in.MemberID, PrivateIP: ip.String(), Pgid: pgid, StartedUnix: d.opts.Now().Unix()},
	}
	for i, c := range cmds {
		st, _, _ := procStat(c.Process.Pid)
		m.rec.Processes = append(m.rec.Processes, procRecord{Role: roles[i], Pid: c.Process.Pid, StartTime: st})
	}
	if err := writeJSON(filepath.Join(dir, "member.json"), m.rec); err != nil {
		killGroup(pgid, syscall.SIGKILL)
		for _, c := range cmds {
			c.Wait()
		}
		return fail(fmt.Errorf("local: write member.json: %w", err))
	}
	// The member is known before its waiters run, so an early exit is reported. One waiter per
	// process; the first to return ends the member unless it is being terminated.
	d.mu.Lock()
	d.members[id] = m
	d.mu.Unlock()
	var wg sync.WaitGroup
	for i, c := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.Wait()
			reason := fmt.Sprintf("%s: %s", roles[i], exitReason(c.ProcessState, err))
			if roles[i] == "server" {
				if line := lastLine(filepath.Join(dir, "server.log")); line != "" {
					reason += ": " + line // e.g. "sh: 1: exec: /opt/php/bin/run: not found"
				}
			}
			d.ended(id, reason)
		}()
	}
	go func() { wg.Wait(); close(m.done) }()
	d.log.Info("member started", "member_id", in.MemberID, "ip", ip, "pgid", pgid, "command", command != "")
	return m, nil
}

// shellWords are the shell's builtins and keywords a command may start with: no program to look
// for.
var shellWords = map[string]bool{
	"exec": true, "cd": true, "set": true, "export": true, "echo": true, "printf": true, "test": true, "[": true,
	"true": true, "false": true, "sleep": true, "trap": true, "umask": true, "ulimit": true, ".": true, ":": true,
	"eval": true, "if": true, "for": true, "while": true, "until": true, "case": true, "{": true, "(": true, "!": true,
	"wait": true, "read": true, "unset": true, "command": true, "source": true,
}

// checkProgram refuses a server command whose program (its first word, after "exec") is an
// absolute path that does not exist or is not executable, or a name not found in PATH: started,
// it could only exit with status 127. A command whose program the shell computes ($VAR, `...`,
// globs), a relative path (the application's files are checked out after the start) or a shell
// builtin is not checked.
func checkProgram(command string) error {
	rest := strings.TrimSpace(command)
	for {
		w, r := firstWord(rest)
		if w != "exec" {
			break
		}
		rest = r
	}
	prog, _ := firstWord(rest)
	if prog == "" || shellWords[prog] || strings.ContainsAny(prog, "$`\\*?[]{}()~;|&<>='\"") {
		return nil
	}
	if strings.HasPrefix(prog, "/") {
		fi, err := os.Stat(prog)
		if err != nil {
			return fmt.Errorf("server command %q: program %s not found: %w", command, prog, err)
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("server command %q: program %s is not an executable file", command, prog)
		}
		return nil
	}
	if strings.Contains(prog, "/") {
		return nil
	}
	if _, err := exec.LookPath(prog); err != nil {
		return fmt.Errorf("server command %q: program %s not found in PATH: %w", command, prog, err)
	}
	return nil
}

// firstWord splits off the first word of a shell command, unquoting a word in plain double or
// single quotes (as %q writes a path without special characters).
func firstWord(s string) (word, rest string) {
	s = strings.TrimLeft(s, " \t")
	if s == "" {
		return "", ""
	}
	if q := s[0]; q == '"' || q == '\'' {
		if i := strings.IndexByte(s[1:], q); i >= 0 {
			return s[1 : i+1], s[i+2:]
		}
		return s, ""
	}
	if i := strings.IndexAny(s, " \t\n"); i >= 0 {
		return s[:i], s[i:]
	}
	return s, ""
}

// lastLine returns the last non-empty line of the end of a file, or "".
func lastLine(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const tail = 512
	var buf [tail]byte
	off := int64(0)
	if fi, err := f.Stat(); err == nil && fi.Size() > tail {
		off = fi.Size() - tail
	}
	n, _ := f.ReadAt(buf[:], off)
	lines := strings.Split(strings.TrimSpace(string(buf[:n])), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// payloadEnv is the payload as KEY=VALUE environment entries, for the server command.
func payloadEnv(p model.Payload) []string {
	out := make([]string, 0, len(p))
	for _, kv := range p {
		if kv.Key != "" && !strings.ContainsAny(kv.Key, ".=") {
			out = append(out, kv.Key+"="+kv.Value)
		}
	}
	return out
}

func exitReason(st *os.ProcessState, err error) string {
	if st == nil {
		return fmt.Sprint(err)
	}
	return st.String()
}

// ended handles a process of a member that stopped: unless the member is being terminated, the
// whole group is stopped, the directory retired and the exit queued for Watch.
func (d *Driver) ended(id, reason string) {
	d.mu.Lock()
	m := d.members[id]
	if m == nil || m.terminating || m.gone {
		d.mu.Unlock()
		return
	}
	m.gone = true
	delete(d.members, id)
	delete(d.ips, m.ip)
	d.exits = append(d.exits, controller.Exit{InstanceID: id, MemberID: m.rec.MemberID, Time: d.opts.Now(), Reason: reason})
	d.stops++
	d.mu.Unlock()
	select {
	case d.exitsCh <- struct{}{}:
	default:
	}
	d.log.Warn("member ended on its own", "member_id", m.rec.MemberID, "reason", reason)
	go func() {
		d.stopGroup(m)
		d.retire(m.dir)
		d.mu.Lock()
		if d.stops--; d.stops == 0 {
			d.stopped.Broadcast()
		}
		d.mu.Unlock()
	}()
}

// stopGroup sends SIGTERM to the member's group, then SIGKILL after the grace period, and waits
// until the group is gone (bounded).
func (d *Driver) stopGroup(m *member) {
	killGroup(m.rec.Pgid, syscall.SIGTERM)
	if !d.waitGone(m, d.opts.GracePeriod) {
		d.log.Warn("member did not stop on SIGTERM; killing", "member_id", m.rec.MemberID, "grace", d.opts.GracePeriod)
		killGroup(m.rec.Pgid, syscall.SIGKILL)
		d.waitGone(m, 5*time.Second)
	}
}

// waitGone waits until no process of the member's group is left (and the processes this driver
// started have been reaped).
func (d *Driver) waitGone(m *member, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	if !m.adopted {
		t := time.NewTimer(timeout)
		select {
		case <-m.done:
			t.Stop()
		case <-t.C:
			return false
		}
	}
	for {
		if !groupAlive(m.rec.Pgid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond) // polling the kernel: there is nothing to wait on
	}
}

// Terminate stops the member's process group (SIGTERM, then SIGKILL after the grace period) and
// removes its directory. An unknown instance gives controller.ErrInstanceNotFound.
func (d *Driver) Terminate(ctx context.Context, instanceID string) error {
	d.mu.Lock()
	m := d.members[instanceID]
	if m == nil || m.terminating {
		d.mu.Unlock()
		if m != nil {
			return nil // another Terminate is at it
		}
		return fmt.Errorf("local: terminate %s: %w", instanceID, controller.ErrInstanceNotFound)
	}
	m.terminating = true
	d.mu.Unlock()

	d.stopGroup(m)
	d.mu.Lock()
	delete(d.members, instanceID)
	delete(d.ips, m.ip)
	d.mu.Unlock()
	if err := os.RemoveAll(m.dir); err != nil {
		return fmt.Errorf("local: remove %s: %w", m.dir, err)
	}
	d.log.Info("member terminated", "member_id", m.rec.MemberID)
	return nil
}

// List returns the running members, including those adopted from an earlier driver.
func (d *Driver) List(ctx context.Context) ([]controller.Started, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]controller.Started, 0, len(d.members))
	for id, m := range d.members {
		if m.terminating {
			continue
		}
		out = append(out, controller.Started{InstanceID: id, MemberID: m.rec.MemberID, PrivateIPs: []string{m.rec.PrivateIP}})
	}
	return out, nil
}

// Watch reports members that ended without Terminate: a process this driver started exited, or
// an adopted one is no longer alive (checked every PollInterval). It returns when ctx ends and
// the ended members' groups have been stopped.
func (d *Driver) Watch(ctx context.Context, report func(controller.Exit)) {
	t := time.NewTicker(d.opts.PollInterval)
	defer t.Stop()
	defer func() {
		d.mu.Lock()
		for d.stops > 0 {
			d.stopped.Wait()
		}
		d.mu.Unlock()
	}()
	for {
		d.mu.Lock()
		exits := d.exits
		d.exits = nil
		d.mu.Unlock()
		for _, e := range exits {
			report(e)
		}
		select {
		case <-ctx.Done():
			return
		case <-d.exitsCh:
		case <-t.C:
			d.pollAdopted()
		}
	}
}

func (d *Driver) pollAdopted() {
	d.mu.Lock()
	var check []*member
	for _, m := range d.members {
		if m.adopted && !m.terminating {
			check = append(check, m)
		}
	}
	d.mu.Unlock()
	for _, m := range check {
		if !d.alive(&m.rec) {
			d.ended(m.rec.InstanceID, "process gone")
		}
	}
}

// killGroup signals every process of a group; a group that is gone is not an error.
func killGroup(pgid int, sig syscall.Signal) {
	if pgid > 1 {
		_ = syscall.Kill(-pgid, sig)
	}
}

// groupAlive reports whether any process of the group exists.
func groupAlive(pgid int) bool {
	return syscall.Kill(-pgid, 0) == nil
}

// procStat returns a process's start time (clock ticks since boot, field 22 of /proc/<pid>/stat)
// and its state letter.
func procStat(pid int) (uint64, byte, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: parse after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("proc %d: bad stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, 0, fmt.Errorf("proc %d: short stat", pid)
	}
	st, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("proc %d: start time: %w", pid, err)
	}
	return st, f[0][0], nil
}

// writeFile writes a file atomically (a temporary file renamed over it).
func writeFile(path string, fill func(*os.File) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if err := fill(tmp); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(path, func(f *os.File) error { _, err := f.Write(append(b, '\n')); return err })
}
