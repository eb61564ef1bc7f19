package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestRead(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		name, ldflags string
		bi            *debug.BuildInfo
		want          string
	}{
		{name: "vcs", bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261206050000-9fb0555def00"},
			Settings: settings("vcs.revision", "9fb0555def000d2d4a23009d15074d162993adbb", "vcs.time", "2026-12-06T05:00:00Z", "vcs.modified", "false")},
			want: "v0.0.0-20261206050000-9fb0555def00 commit 9fb0555def000d2d4a23009d15074d162993adbb (2026-12-06T05:00:00Z) go1.26.8"},
		{name: "modified", bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261206050000-9fb0555def00+dirty"},
			Settings: settings("vcs.revision", "9fb0555def00", "vcs.time", "2026-12-06T05:00:00Z", "vcs.modified", "true")},
			want: "v0.0.0-20261206050000-9fb0555def00+dirty commit 9fb0555def00 (2026-12-06T05:00:00Z, modified) go1.26.8"},
		{name: "no vcs", bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			want: "(devel) (no VCS information: built outside a git checkout or with -buildvcs=false) go1.26.8"},
		{name: "ldflags", ldflags: "v1.2.3", bi: &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs.revision", "abc", "vcs.time", "t")}, want: "v1.2.3 commit abc (t) go1.26.8"},
		{name: "no build info", want: "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Read(tc.ldflags, tc.bi).String(); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}
