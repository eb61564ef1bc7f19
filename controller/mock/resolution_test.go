package mock

import (
	"testing"
	"time"
)

// TestDefaultResolutionFollowsInterval: with an interval below the default resolution, the
// health loop runs at the interval, so members publish every Interval as documented.
func TestDefaultResolutionFollowsInterval(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		want     time.Duration
	}{
		{name: "stratos interval", interval: 15 * time.Second, want: DefaultResolution},
		{name: "short interval", interval: 250 * time.Millisecond, want: 250 * time.Millisecond},
		{name: "default interval", interval: 0, want: DefaultResolution},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(Options{Bus: newFakeBus(), Interval: tc.interval, Logger: discard})
			if err != nil {
				t.Fatal(err)
			}
			if d.opts.Resolution != tc.want {
				t.Errorf("resolution %v with interval %v, want %v", d.opts.Resolution, tc.interval, tc.want)
			}
		})
	}
}
