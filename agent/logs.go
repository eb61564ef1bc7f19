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

// NewLogClient is the data-bridge client of a member's log stream: the monitoring server's
// (LogURLs) or else the CEP's. It returns nil and no error when the configuration names neither.
func NewLogClient(cfg Config) (*databridge.Client, error) {
	urls, user, pass := cfg.LogURLs, cfg.LogUsername, cfg.LogPassword
	if len(urls) == 0 {
		urls, user, pass = cfg.CEPURLs, cfg.CEPUsername, cfg.CEPPassword
	}
	if len(urls) == 0 {
		return nil, nil
	}
	return databridge.NewClient(databridge.ClientOptions{
		URLs: urls, TLS: cfg.CEPTLS, Username: user, Password: pass, Logger: cfg.Logger,
	})
}

// LogStream publishes lines of a member's output to its log stream, logs.<tenant>.<alias>.<date>
// (§2.6): the agent the lines of its log files, `strata init` its install script's output.
// It is not safe for concurrent use.
type LogStream struct {
	cfg    *Config
	ip     string
	pub    Publisher
	day    string
	stream *databridge.StreamDefinition
}

// NewLogStream returns the log stream of the member cfg describes, whose lines come from the
// address ip, published through pub.
func NewLogStream(cfg *Config, ip string, pub Publisher) *LogStream {
	return &LogStream{cfg: cfg, ip: ip, pub: pub}
}

// Publish sends lines as one event each, stamped now and a microsecond apart so that they keep
// their order in the history, to the stream of now's day.
func (s *LogStream) Publish(ctx context.Context, now time.Time, lines []string) error {
	if day := now.Format("2006.01.02"); day != s.day || s.stream == nil {
		alias := s.cfg.CartridgeAlias
		if alias == "" {
			alias = s.cfg.ClusterID
		}
		s.day, s.stream = day, databridge.LogStream(databridge.LogStreamName(s.cfg.TenantID, alias, now))
	}
	tenant := tenantForLogs(s.cfg.TenantID)
	events := make([]databridge.Event, len(lines))
	for i, l := range lines {
		at := now.Add(time.Duration(i) * time.Microsecond)
		events[i] = databridge.LogEvent(s.stream, model.LogEntry{
			MemberID: s.cfg.MemberID, TenantID: tenant, ServerName: s.cfg.ServiceName,
			LogTime: at.Format(time.RFC3339Nano), Message: l, IP: s.ip, Instance: s.cfg.MemberID,
			Timestamp: at.UnixMilli(),
		})
	}
	return s.pub.Publish(ctx, events...)
}

// logLoop tails LogFilePaths and publishes every new line to the member's log stream, polling
// every LogPollInterval.
func (a *Agent) logLoop(ctx context.Context) {
	tails := make([]*tailer, len(a.cfg.LogFilePaths))
	for i, p := range a.cfg.LogFilePaths {
		tails[i] = &tailer{path: p}
		defer tails[i].close()
		if _, err := tails[i].lines(); err != nil { // position at the end
			a.log.Warn("cannot read log file", "path", p, "error", err)
		}
	}
	stream := NewLogStream(&a.cfg, a.listenAddress(), a.logs)
	failing := false
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
			err = stream.Publish(ctx, a.cfg.Now(), lines)
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
