package agent

import (
	"bytes"
	"context"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
)

// maxLogLine bounds one published log line; a longer line is cut and the rest published as
// further lines.
const maxLogLine = 64 << 10

// tailer follows one log file from where it ended when the agent started, like tail -F: a file
// that shrinks was truncated and is read from its start, a file with a new inode was rotated and
// is reopened from its start.
type tailer struct {
	path    string
	f       *os.File
	ino     uint64
	off     int64
	partial []byte
	started bool
}

// lines returns the complete lines written since the last call.
func (t *tailer) lines() ([]string, error) {
	st, err := os.Stat(t.path)
	if err != nil {
		if os.IsNotExist(err) {
			t.started = true // a file created later is read from its start
			return nil, nil
		}
		return nil, err
	}
	ino := uint64(0)
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		ino = s.Ino
	}
	if t.f == nil || ino != t.ino {
		if t.f != nil {
			t.f.Close()
		}
		f, err := os.Open(t.path)
		if err != nil {
			return nil, err
		}
		t.f, t.ino, t.off, t.partial = f, ino, 0, nil
		if !t.started {
			t.off = st.Size() // lines written before the agent started are not published
		}
		t.started = true
	}
	if st.Size() < t.off {
		t.off, t.partial = 0, nil
	}
	if st.Size() == t.off {
		return nil, nil
	}
	buf := make([]byte, st.Size()-t.off)
	n, err := t.f.ReadAt(buf, t.off)
	if err != nil && err != io.EOF {
		return nil, err
	}
	t.off += int64(n)
	data := append(t.partial, buf[:n]...)
	var out []string
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		out = append(out, string(bytes.TrimSuffix(data[:i], []byte("\r"))))
		data = data[i+1:]
	}
	for len(data) > maxLogLine {
		out = append(out, string(data[:maxLogLine]))
		data = data[maxLogLine:]
	}
	t.partial = append([]byte(nil), data...)
	return out, nil
}

func (t *tailer) close() {
	if t.f != nil {
		t.f.Close()
	}
}

// logLoop tails LogFilePaths and publishes every new line as one event of the day's
// logs.<tenant>.<alias>.<date> stream (§2.6), polling every LogPollInterval.
func (a *Agent) logLoop(ctx context.Context) {
	tails := make([]*tailer, len(a.cfg.LogFilePaths))
	for i, p := range a.cfg.LogFilePaths {
		tails[i] = &tailer{path: p}
		defer tails[i].close()
		if _, err := tails[i].lines(); err != nil { // position at the end
			a.log.Warn("cannot read log file", "path", p, "error", err)
		}
	}
	alias := a.cfg.CartridgeAlias
	if alias == "" {
		alias = a.cfg.ClusterID
	}
	var (
		streamDay string
		stream    *databridge.StreamDefinition
		failing   bool
		ip        = a.listenAddress()
	)
	t := time.NewTicker(a.cfg.LogPollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, tl := range tails {
			lines, err := tl.lines()
			if err != nil {
				a.log.Debug("cannot read log file", "path", tl.path, "error", err)
				continue
			}
			if len(lines) == 0 {
				continue
			}
			now := a.cfg.Now()
			if day := now.Format("2006.01.02"); day != streamDay {
				streamDay, stream = day, databridge.LogStream(databridge.LogStreamName(a.cfg.TenantID, alias, now))
			}
			events := make([]databridge.Event, 0, len(lines))
			for _, l := range lines {
				events = append(events, databridge.LogEvent(stream, model.LogEntry{
					MemberID: a.cfg.MemberID, TenantID: tenantForLogs(a.cfg.TenantID), ServerName: a.cfg.ServiceName,
					LogTime: now.Format(time.RFC3339Nano), Message: l, IP: ip, Instance: a.cfg.MemberID,
					Timestamp: now.UnixMilli(),
				}))
			}
			err = a.logs.Publish(ctx, events...)
			switch {
			case err != nil && !failing && ctx.Err() == nil:
				a.log.Warn("cannot publish log lines; they are dropped until the receiver answers", "error", err)
				failing = true
			case err == nil && failing:
				failing = false
			}
		}
	}
}

func tenantForLogs(id string) string {
	if id == superTenantID || id == "-1" {
		return "0"
	}
	return id
}
