package local

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/strata-paas/strata/controller"
)

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
	d.exits.Add(controller.Exit{InstanceID: id, MemberID: m.rec.MemberID, Time: d.opts.Now(), Reason: reason})
	d.stops++
	d.mu.Unlock()
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
	d.exits.Run(ctx, report, t.C, d.pollAdopted)
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
