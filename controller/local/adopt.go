package local

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

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
