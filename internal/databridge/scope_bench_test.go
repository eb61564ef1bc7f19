package databridge

import (
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// BenchmarkEnforceScope checks a member session's bundle of 100 events, all inside its scope, the
// way every agent's health and log bundles are checked: health samples and log lines.
func BenchmarkEnforceScope(b *testing.B) {
	s := sample
	s.MemberID = s.ClusterID + "0b7e1c2d-3a4b-4c5d-8e6f-708192a3b4c5"
	logs := LogStream(LogStreamName("-1234", "php", time.Unix(0, 0)))
	for _, bb := range []struct {
		name  string
		event Event
	}{
		{name: "health", event: HealthEvent(s)},
		{name: "log", event: LogEvent(logs, model.LogEntry{MemberID: s.MemberID, Message: "m"})},
	} {
		b.Run(bb.name, func(b *testing.B) {
			evs := make([]Event, 100)
			for i := range evs {
				evs[i] = bb.event
			}
			sc := &serverConn{sess: &session{scope: Scope{ClusterID: s.ClusterID, MemberID: s.MemberID}}}
			b.ReportAllocs()
			for b.Loop() {
				if got, err := sc.enforceScope(evs); err != nil || len(got) != len(evs) {
					b.Fatalf("enforceScope kept %d of %d events: %v", len(got), len(evs), err)
				}
			}
		})
	}
}
