package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
)

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
	var command, extensions string
	agentCommand := d.opts.AgentCommand
	if in.IaaS != nil {
		command, _ = model.LookupProperty(in.IaaS.Property, PropertyCommand)
		extensions, _ = model.LookupProperty(in.IaaS.Property, PropertyExtensions)
		if a, ok := model.LookupProperty(in.IaaS.Property, PropertyAgent); ok && strings.TrimSpace(a) != "" {
			agentCommand = a
		}
	}
	conf := agentConf(payload, ip.String(), appDir, payloadPath, extensions, d.opts.AgentConf)
	confPath := filepath.Join(dir, "agent.conf")
	if err := writeFile(confPath, func(f *os.File) error { _, err := f.WriteString(conf); return err }); err != nil {
		return fail(fmt.Errorf("local: write agent.conf: %w", err))
	}

	if err := checkProgram("server command", command); err != nil {
		return fail(fmt.Errorf("local: cartridge %s: %w", in.ServiceName, err))
	}
	if err := checkProgram("agent command", agentCommand); err != nil {
		return fail(fmt.Errorf("local: cartridge %s: %w", in.ServiceName, err))
	}

	marker := MarkerEnv + "=" + in.MemberID
	base := append(append(os.Environ(), d.opts.Env...), marker, model.EnvMemberIP+"="+ip.String(), EnvMemberDir+"="+dir)
	agentLog, err := os.OpenFile(filepath.Join(dir, "agent.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fail(fmt.Errorf("local: agent log: %w", err))
	}
	defer agentLog.Close()
	agent := exec.Command(d.opts.Executable, d.opts.AgentArgs(confPath, payloadPath)...)
	agent.Env = base
	if agentCommand != "" {
		// Another agent gets the payload as Stratos hands it over: the launch-params file (named
		// by param.file.path in agent.conf) and the environment.
		agent = exec.Command("/bin/sh", "-c", agentCommand)
		agent.Env = append(append(append([]string(nil), base...), payload.Environ()...),
			model.EnvAgentConf+"="+confPath, model.EnvLaunchParams+"="+payloadPath)
	}
	agent.Dir = dir
	agent.Stdout, agent.Stderr = agentLog, agentLog
	agent.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := agent.Start(); err != nil {
		return fail(fmt.Errorf("local: start agent %s: %w", agent.Path, err))
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
		srv.Env = append(append([]string(nil), base...), payload.Environ()...)
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
			// The last line the process wrote usually says why: "sh: 1: exec: /opt/php/bin/run:
			// not found", or `strata init`'s failed install.
			if line := lastLine(filepath.Join(dir, roles[i]+".log")); line != "" {
				reason += ": " + line
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

// checkProgram refuses a server or agent command (what) whose program (its first word, after
// "exec") is an absolute path that does not exist or is not executable, or a name not found in
// PATH: started, it could only exit with status 127. A command whose program the shell computes ($VAR, `...`,
// globs), a relative path (the application's files are checked out after the start) or a shell
// builtin is not checked.
func checkProgram(what, command string) error {
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
			return fmt.Errorf("%s %q: program %s not found: %w", what, command, prog, err)
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("%s %q: program %s is not an executable file", what, command, prog)
		}
		return nil
	}
	if strings.Contains(prog, "/") {
		return nil
	}
	if _, err := exec.LookPath(prog); err != nil {
		return fmt.Errorf("%s %q: program %s not found in PATH: %w", what, command, prog, err)
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
