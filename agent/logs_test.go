package agent

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
)

// recordingPublisher keeps what it is asked to publish.
type recordingPublisher struct{ events []databridge.Event }

func (p *recordingPublisher) Publish(_ context.Context, events ...databridge.Event) error {
	p.events = append(p.events, events...)
	return nil
}

// TestLogStream: the agent and `strata init` publish a member's lines the same way: the day's
// logs.<tenant>.<alias>.<date> stream (the super tenant as 0, the cluster id without an alias),
// one event per line, a microsecond apart so that they keep their order.
func TestLogStream(t *testing.T) {
	for _, tc := range []struct {
		name, tenant, alias, stream, tenantField string
	}{
		{name: "super tenant with alias", tenant: "-1234", alias: "php1", stream: "logs.0.php1.2026.12.06", tenantField: "0"},
		{name: "tenant without alias", tenant: "7", stream: "logs.7.php.domain.2026.12.06", tenantField: "7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{MemberID: "m1", ServiceName: "php", ClusterID: "php.domain", CartridgeAlias: tc.alias, TenantID: tc.tenant}
			pub := &recordingPublisher{}
			s := NewLogStream(&cfg, "10.0.0.5", pub)
			day := time.Date(2026, 12, 6, 23, 59, 59, 0, time.UTC)
			if err := s.Publish(context.Background(), day, []string{"first", "second"}); err != nil {
				t.Fatal(err)
			}
			if err := s.Publish(context.Background(), day.Add(time.Second), []string{"next day"}); err != nil {
				t.Fatal(err)
			}
			if len(pub.events) != 3 {
				t.Fatalf("%d events, want 3", len(pub.events))
			}
			for i, want := range []string{tc.stream, tc.stream, tc.stream[:len(tc.stream)-10] + "2026.12.07"} {
				if got := pub.events[i].Stream.Name; got != want {
					t.Errorf("event %d on stream %s, want %s", i, got, want)
				}
			}
			entry := func(at time.Time, msg string) []string {
				e := model.LogEntry{MemberID: "m1", TenantID: tc.tenantField, ServerName: "php", LogTime: at.Format(time.RFC3339Nano),
					Message: msg, IP: "10.0.0.5", Instance: "m1"}
				return databridge.LogEvent(nil, e).Strings
			}
			want := [][]string{entry(day, "first"), entry(day.Add(time.Microsecond), "second"), entry(day.Add(time.Second), "next day")}
			var got [][]string
			for _, e := range pub.events {
				got = append(got, e.Strings)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("events (-want +got):\n%s", d)
			}
		})
	}
}
