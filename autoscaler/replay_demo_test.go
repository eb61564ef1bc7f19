package autoscaler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/policies"
)

// demoWave is one load wave of `strata up --demo --demo-waves ... --demo-workers ...`: this many
// concurrent requests for this long.
type demoWave struct {
	d       time.Duration
	workers float64
}

// demoLoad is the requests in flight of the CEP window ending at win×period: the waves' workers
// averaged over the window, the waves starting at start (before: none) and ending in silence.
func demoLoad(waves []demoWave, start, period time.Duration) func(win int) float64 {
	at := func(t time.Duration) float64 {
		if t < start {
			return 0
		}
		end := start
		for _, w := range waves {
			end += w.d
			if t < end {
				return w.workers
			}
		}
		return 0
	}
	return func(win int) float64 {
		const samples = 20 // the load balancer's samples in one window
		sum := 0.0
		for i := range samples {
			sum += at(time.Duration(win-1)*period + time.Duration(i)*period/samples)
		}
		return sum / samples
	}
}

// TestReplayDemoPolicyExact: the demo's unchanged policy (examples/demo/policies: requests in
// flight decide, a 10 s scale-down window with steps of one, scale-in with headroom) runs live
// under the demo's timings (a CEP window of 10 s; the monitor tick of --demo, 5 s, and a shorter
// one) for three wave plans, on a clock that reads a little late as on a loaded machine. Replaying
// it from history gives the live decisions again: 0 differences.
func TestReplayDemoPolicyExact(t *testing.T) {
	set, err := policies.LoadDir("../examples/demo/policies")
	if err != nil {
		t.Fatal(err)
	}
	const period = 10 * time.Second // --demo's --cep-window
	plans := []struct {
		name  string
		waves []demoWave
	}{
		{name: "waves 20s,60s,60s workers 2,12", waves: []demoWave{{20 * time.Second, 2}, {60 * time.Second, 12}, {60 * time.Second, 2}}},
		{name: "waves 30s,60s,60s workers 2,12", waves: []demoWave{{30 * time.Second, 2}, {60 * time.Second, 12}, {60 * time.Second, 2}}},
		{name: "waves 10s,90s,40s workers 1,7", waves: []demoWave{{10 * time.Second, 1}, {90 * time.Second, 7}, {40 * time.Second, 1}}},
	}
	for _, plan := range plans {
		for _, monitor := range []time.Duration{5 * time.Second, 3 * time.Second} {
			t.Run(fmt.Sprintf("%s monitor %s", plan.name, monitor), func(t *testing.T) {
				total := 30 * time.Second // the first member is active after 22 s; the demo waits for it
				for _, w := range plan.waves {
					total += w.d
				}
				windows := int((total + 90*time.Second) / period)
				mem, _, _ := liveRunWith(t, set, liveOptions{policy: "demo-autoscaling", monitor: monitor, period: period,
					windows: windows, load: demoLoad(plan.waves, 30*time.Second, period), clock: lateClock{step: 3 * time.Millisecond},
					np: "demo-local", dep: "demo-deployment", max: 4, rif: true})
				h, err := LoadReplayHistory(context.Background(), mem, replayCluster, time.Time{}, time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				res, err := Replay(context.Background(), ReplayOptions{Policies: set, Policy: "demo-autoscaling",
					Cluster: ClusterSpec{ClusterID: replayCluster}, MonitorInterval: monitor}, h)
				if err != nil {
					t.Fatal(err)
				}
				var text strings.Builder
				if err := res.WriteText(&text, false); err != nil {
					t.Fatal(err)
				}
				if s, d := sumDeltas(res.Recorded); s < 2 || d < 2 {
					t.Errorf("the live run started %d and terminated %d members; the test wants the min check, a scale-up and scale-downs\n%s", s, d, text.String())
				}
				if res.Differences != 0 {
					t.Errorf("replay of the unchanged demo policy: %d differences\n%s", res.Differences, text.String())
				}
			})
		}
	}
}
