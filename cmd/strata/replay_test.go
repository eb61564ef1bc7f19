package main

import (
	"strings"
	"testing"
	"time"
)

func TestReplayFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no policy", args: []string{"--cluster", "c", "--policies", "d", "--clickhouse", "clickhouse://x/db"}, want: "want exactly one POLICY"},
		{name: "no cluster", args: []string{"as", "--policies", "d", "--clickhouse", "clickhouse://x/db"}, want: "--cluster is required"},
		{name: "no history", args: []string{"as", "--cluster", "c", "--policies", "d", "--clickhouse", ""}, want: "--clickhouse is required"},
		{name: "bad time", args: []string{"as", "--cluster", "c", "--policies", "d", "--clickhouse", "clickhouse://x/db", "--from", "yesterday"}, want: `--from: "yesterday" is neither`},
		{name: "empty range", args: []string{"as", "--cluster", "c", "--policies", "d", "--clickhouse", "clickhouse://x/db", "--from", "-1h", "--to", "-2h"}, want: "is not before --to"},
		{name: "output", args: []string{"as", "--cluster", "c", "--policies", "d", "--clickhouse", "clickhouse://x/db", "--output", "yaml"}, want: `--output "yaml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut strings.Builder
			if code := runReplay(tt.args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut.String(), tt.want)
			}
		})
	}
}

func TestParseReplayTime(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name, in string
		want     time.Time
	}{
		{name: "now", in: "now", want: now},
		{name: "relative", in: "-1h30m", want: now.Add(-90 * time.Minute)},
		{name: "rfc3339", in: "2026-11-22T08:00:00Z", want: time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseReplayTime(tt.in, now)
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("parseReplayTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}
