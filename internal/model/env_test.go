package model

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPayloadEnv is the one table of which payload keys become environment variables (every
// driver and the module bootstrapper use Payload.Env): POSIX names only; anything else stays in
// the launch-params file.
func TestPayloadEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  string
		env  bool
	}{
		{name: "stratos key", key: "MEMBER_ID", env: true},
		{name: "lower case", key: "log_level", env: true},
		{name: "leading underscore", key: "_X", env: true},
		{name: "digits after the first", key: "CEP2_URLS", env: true},
		{name: "single letter", key: "A", env: true},
		{name: "dash", key: "MY-KEY", env: false},
		{name: "dot", key: "listen.address", env: false},
		{name: "leading digit", key: "1ST", env: false},
		{name: "equals", key: "A=B", env: false},
		{name: "space", key: "A B", env: false},
		{name: "dollar", key: "A$", env: false},
		{name: "slash", key: "a/b", env: false},
		{name: "non-ASCII letter", key: "CLÉ", env: false},
		{name: "empty", key: "", env: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsEnvName(tc.key); got != tc.env {
				t.Errorf("IsEnvName(%q) = %v, want %v", tc.key, got, tc.env)
			}
			p := Payload{{Key: "BEFORE", Value: "1"}, {Key: tc.key, Value: "v"}, {Key: "AFTER", Value: "2"}}
			want := []string{"BEFORE=1", "AFTER=2"}
			if tc.env {
				want = []string{"BEFORE=1", tc.key + "=v", "AFTER=2"}
			}
			if d := cmp.Diff(want, p.Environ()); d != "" {
				t.Errorf("Environ (-want +got):\n%s", d)
			}
		})
	}
}
