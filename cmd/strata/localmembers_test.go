package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// memberRecord is the local driver's member.json.
type memberRecord struct {
	MemberID  string `json:"memberId"`
	Pgid      int    `json:"pgid"`
	Processes []struct {
		Role string `json:"role"`
		Pid  int    `json:"pid"`
	} `json:"processes"`
}

// memberRecords reads the member.json of every member directory of the local driver.
func memberRecords(dataDir string) map[string]memberRecord {
	out := map[string]memberRecord{}
	paths, _ := filepath.Glob(filepath.Join(dataDir, "members", "*", "member.json"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var r memberRecord
		if json.Unmarshal(b, &r) == nil && r.MemberID != "" {
			out[r.MemberID] = r
		}
	}
	return out
}

func (r memberRecord) alive() bool {
	if len(r.Processes) == 0 {
		return false
	}
	for _, p := range r.Processes {
		if !pidAlive(p.Pid) {
			return false
		}
	}
	return true
}

// pidAlive reports whether the process runs and is not a zombie.
func pidAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z' && s[i+2] != 'X'
}

// dumpMemberLogs logs the end of every member's agent and server log, and where each agent
// still running was stuck (SIGQUIT: its goroutines): a failed test shows what the agents did,
// not only what `strata up` did. The logs are opened first: the driver removes the directory of
// a member whose agent ended.
func dumpMemberLogs(t *testing.T, dataDir string) {
	t.Helper()
	type logFile struct {
		member, name string
		f            *os.File
	}
	var files []logFile
	var agents []int
	for id, r := range memberRecords(dataDir) {
		for _, name := range []string{"agent.log", "server.log"} {
			if f, err := os.Open(filepath.Join(memberDir(dataDir, id), name)); err == nil {
				files = append(files, logFile{id, name, f})
			}
		}
		for _, p := range r.Processes {
			if p.Role == "agent" && syscall.Kill(p.Pid, syscall.SIGQUIT) == nil {
				agents = append(agents, p.Pid)
			}
		}
	}
	// The runtime writes the dump, then the process exits.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && slices.ContainsFunc(agents, pidAlive) {
		time.Sleep(50 * time.Millisecond)
	}
	for _, lf := range files {
		b, _ := io.ReadAll(lf.f)
		lf.f.Close()
		logs, stacks := splitGoroutineDump(string(b))
		if len(logs) > 8<<10 {
			logs = logs[len(logs)-8<<10:]
		}
		t.Logf("%s of %s:\n%s", lf.name, lf.member, logs)
		if stacks != "" {
			t.Logf("goroutines of the agent of %s:\n%s", lf.member, stacks)
		}
	}
}

func killMembers(dataDir string) {
	for _, r := range memberRecords(dataDir) {
		if r.Pgid > 1 {
			_ = syscall.Kill(-r.Pgid, syscall.SIGKILL)
		}
	}
}

// killMembersInProcess is killMembers for a platform that ran in this process: its local driver
// still waits for the killed processes here and moves each ended member's directory aside, so it
// waits (up to 10 s) until no member directory is left, lest the TempDir cleanup race the moves.
func killMembersInProcess(dataDir string) {
	deadline := time.Now().Add(10 * time.Second)
	for killMembers(dataDir); len(memberRecords(dataDir)) > 0 && time.Now().Before(deadline); killMembers(dataDir) {
		time.Sleep(50 * time.Millisecond)
	}
}

// memberDir is the local driver's directory of a member (by its member.json).
func memberDir(dataDir, memberID string) string {
	paths, _ := filepath.Glob(filepath.Join(dataDir, "members", "*", "member.json"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		var r memberRecord
		if err == nil && json.Unmarshal(b, &r) == nil && r.MemberID == memberID {
			return filepath.Dir(p)
		}
	}
	return ""
}

func pidList(r memberRecord) []int {
	var out []int
	for _, p := range r.Processes {
		out = append(out, p.Pid)
	}
	return out
}

// cleanTimes reads when clean.sh started and ended for a member.
func cleanTimes(t *testing.T, path, member string) (start, end time.Time) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("clean.sh did not run: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var ns int64
		var what, id string
		if _, err := fmt.Sscanf(line, "%d %s %s", &ns, &what, &id); err != nil || id != member {
			continue
		}
		switch what {
		case "start":
			start = time.Unix(0, ns)
		case "end":
			end = time.Unix(0, ns)
		}
	}
	if start.IsZero() || end.IsZero() {
		t.Fatalf("clean.sh did not run for %s:\n%s", member, b)
	}
	return start, end
}
