package agent

import (
	"bytes"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// An extension runs in its own process group, and what it leaves running in the background
// (StartServers starts the cartridge's server so) stays in that group: a SIGTERM to the agent
// alone, as a container runtime sends to a container's main process, would not reach the server,
// which the runtime then kills with the rest of the container once the agent is gone. So the agent
// keeps the groups that outlive their extension and, when it stops, passes the termination on:
// SIGTERM to each, a wait of up to ServerStopTimeout for them to end, then SIGKILL.

// keepIfRunning remembers an extension's process group when processes of it outlive the script.
func (a *Agent) keepIfRunning(name string, pgid int) {
	if !groupAlive(pgid) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	// Groups that ended on their own are dropped: their id may be reused.
	a.left = slices.DeleteFunc(a.left, func(g int) bool { return !groupAlive(g) })
	a.left = append(a.left, pgid)
	a.log.Debug("an extension left processes running", "extension", name, "pgid", pgid)
}

// stopLeftovers sends SIGTERM to the process groups the extensions left running, waits up to
// ServerStopTimeout for them to end and kills what is left.
func (a *Agent) stopLeftovers() {
	a.mu.Lock()
	groups := a.left
	a.left = nil
	a.mu.Unlock()
	groups = slices.DeleteFunc(groups, func(g int) bool { return !groupAlive(g) })
	if len(groups) == 0 {
		return
	}
	for _, g := range groups {
		_ = syscall.Kill(-g, syscall.SIGTERM)
	}
	a.log.Info("stopping the processes the extensions left running", "groups", len(groups), "timeout", a.cfg.ServerStopTimeout)
	deadline := time.NewTimer(a.cfg.ServerStopTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		groups = slices.DeleteFunc(groups, func(g int) bool { return !groupAlive(g) })
		if len(groups) == 0 {
			a.log.Info("the processes the extensions left running stopped")
			return
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			a.log.Warn("processes the extensions left running did not stop on SIGTERM; killing them", "groups", len(groups))
			for _, g := range groups {
				_ = syscall.Kill(-g, syscall.SIGKILL)
			}
			return
		}
	}
}

// groupAlive reports whether a process of the group runs: a zombie (ended, not yet reaped by its
// parent, which may be a container's init) does not count. Without /proc it asks kill(2), which
// counts zombies.
func groupAlive(pgid int) bool {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return syscall.Kill(-pgid, 0) == nil
	}
	want := strconv.Itoa(pgid)
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) < 3 || string(f[0]) == "Z" || string(f[0]) == "X" {
			continue
		}
		if string(f[2]) == want {
			return true
		}
	}
	return false
}
