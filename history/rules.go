package history

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/strata-paas/strata/internal/model"
)

// Limits of the input rules (doc.go, "Input rules").
const (
	// MaxMessageBytes bounds a log line's message and stacktrace.
	MaxMessageBytes = 64 << 10
	// MaxFieldBytes bounds every other string field.
	MaxFieldBytes = 1 << 10
	// MaxTraceBytes bounds a decision trace.
	MaxTraceBytes = 256 << 10
	// MaxFutureSkew is how far ahead of the store's clock a timestamp may be.
	MaxFutureSkew = 24 * time.Hour
)

// rules checks and normalizes records before they enter a store. Both backends use it, so they
// accept and store the same things.
type rules struct {
	now       func() time.Time
	retention time.Duration
	c         *counters
}

// when resolves a timestamp in ms: 0 means "not set" and becomes now; outside
// [now-retention, now+MaxFutureSkew] is refused.
func (r *rules) when(ms int64) (int64, bool) {
	now := r.now().UnixMilli()
	if ms == 0 {
		return now, true
	}
	if ms < now-r.retention.Milliseconds() || ms > now+MaxFutureSkew.Milliseconds() {
		return 0, false
	}
	return ms, true
}

func (r *rules) whenTime(t time.Time) (time.Time, bool) {
	var ms int64
	if !t.IsZero() {
		ms = t.UnixMilli()
	}
	ms, ok := r.when(ms)
	return msTime(ms), ok
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// fix makes *s valid UTF-8 (each run of bad bytes becomes U+FFFD) and cuts it to max bytes at a
// character boundary. It reports whether it changed anything; valid short strings cost nothing.
func fix(s *string, max int) bool {
	v := *s
	if len(v) <= max && utf8.ValidString(v) {
		return false
	}
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	if len(v) > max {
		n := max
		for n > 0 && !utf8.RuneStart(v[n]) {
			n--
		}
		v = v[:n]
	}
	*s = v
	return true
}

func (r *rules) reject() bool {
	r.c.rejected.Add(1)
	return false
}

func (r *rules) accept(changed bool) bool {
	if changed {
		r.c.truncated.Add(1)
	}
	return true
}

func (r *rules) health(s *model.HealthSample) bool {
	ts, ok := r.when(s.Timestamp)
	if !ok || !finite(s.Value) {
		return r.reject()
	}
	s.Timestamp = ts
	ch := fix(&s.ClusterID, MaxFieldBytes)
	ch = fix(&s.ClusterInstanceID, MaxFieldBytes) || ch
	ch = fix(&s.NetworkPartitionID, MaxFieldBytes) || ch
	ch = fix(&s.MemberID, MaxFieldBytes) || ch
	ch = fix(&s.PartitionID, MaxFieldBytes) || ch
	ch = fix(&s.Metric, MaxFieldBytes) || ch
	return r.accept(ch)
}

func (r *rules) summary(s *model.Summary) bool {
	ts, ok := r.when(s.Timestamp)
	if !ok || s.Kind.Class() == "" || !finite(s.Value) || !finite(s.ServedCount) || !finite(s.ActiveInstances) {
		return r.reject()
	}
	s.Timestamp = ts
	ch := fix(&s.ClusterID, MaxFieldBytes)
	ch = fix(&s.ClusterInstanceID, MaxFieldBytes) || ch
	ch = fix(&s.NetworkPartitionID, MaxFieldBytes) || ch
	ch = fix(&s.MemberID, MaxFieldBytes) || ch
	ch = fix(&s.PartitionID, MaxFieldBytes) || ch
	return r.accept(ch)
}

func (r *rules) log(e *model.LogEntry) bool {
	ts, ok := r.when(e.Timestamp)
	if !ok {
		return r.reject()
	}
	e.Timestamp = ts
	ch := fix(&e.Message, MaxMessageBytes)
	ch = fix(&e.Stacktrace, MaxMessageBytes) || ch
	for _, p := range [...]*string{&e.Stream, &e.MemberID, &e.TenantID, &e.ServerName, &e.AppName, &e.LogTime,
		&e.Priority, &e.Logger, &e.IP, &e.Instance} {
		ch = fix(p, MaxFieldBytes) || ch
	}
	return r.accept(ch)
}

func (r *rules) lifecycle(l *model.LifecycleRecord) bool {
	t, ok := r.whenTime(l.Time)
	if !ok {
		return r.reject()
	}
	l.Time = t
	ch := false
	for _, p := range [...]*string{&l.Entity, &l.Event, &l.ServiceName, &l.ApplicationID, &l.ClusterID,
		&l.ClusterInstanceID, &l.NetworkPartitionID, &l.PartitionID, &l.MemberID, &l.Status} {
		ch = fix(p, MaxFieldBytes) || ch
	}
	return r.accept(ch)
}

func (r *rules) decision(d *model.Decision) bool {
	t, ok := r.whenTime(d.Time)
	if !ok || d.Active < math.MinInt32 || d.Active > math.MaxInt32 || d.NonTerminated < math.MinInt32 ||
		d.NonTerminated > math.MaxInt32 || d.Required < math.MinInt32 || d.Required > math.MaxInt32 ||
		d.Delta < math.MinInt32 || d.Delta > math.MaxInt32 {
		return r.reject()
	}
	d.Time = t
	ch := fix(&d.Reason, MaxMessageBytes)
	for _, p := range [...]*string{&d.ID, &d.ClusterID, &d.ClusterInstanceID, &d.NetworkPartitionID, &d.Policy,
		&d.Mode, &d.Action} {
		ch = fix(p, MaxFieldBytes) || ch
	}
	if tr, changed := fixTrace(d.Trace); changed {
		d.Trace = tr
		ch = true
	}
	return r.accept(ch)
}

// fixTrace applies the trace rule: a trace over MaxTraceBytes becomes {"truncated":true,"bytes":N};
// a trace that is not valid JSON becomes a JSON string holding its text (made valid UTF-8).
func fixTrace(t json.RawMessage) (json.RawMessage, bool) {
	if len(t) == 0 {
		return nil, false
	}
	if len(t) > MaxTraceBytes {
		return json.RawMessage(`{"truncated":true,"bytes":` + strconv.Itoa(len(t)) + `}`), true
	}
	if json.Valid(t) {
		return t, false
	}
	s := string(t)
	fix(&s, MaxTraceBytes)
	q, _ := json.Marshal(s) // a string always marshals
	if len(q) > MaxTraceBytes {
		return json.RawMessage(`{"truncated":true,"bytes":` + strconv.Itoa(len(t)) + `}`), true
	}
	return q, true
}

// streamCluster returns the cluster id a log stream name carries: logs.<tenant>.<alias>.<date>,
// where the agents use the whole cluster id as the alias and the date is yyyy.MM.dd (Python
// agent) or yyyy-MM-dd (Java agent). A name of another shape yields "".
func streamCluster(stream string) string {
	rest, ok := strings.CutPrefix(stream, "logs.")
	if !ok {
		return ""
	}
	i := strings.IndexByte(rest, '.')
	if i < 0 {
		return ""
	}
	rest = rest[i+1:]
	const dateLen = len("2006.01.02")
	if len(rest) < dateLen+2 || rest[len(rest)-dateLen-1] != '.' {
		return ""
	}
	date := rest[len(rest)-dateLen:]
	for j := range len(date) {
		c := date[j]
		if j == 4 || j == 7 {
			if c != '.' && c != '-' {
				return ""
			}
		} else if c < '0' || c > '9' {
			return ""
		}
	}
	return rest[:len(rest)-dateLen-1]
}
