package bench

import (
	"testing"
	"time"

	"github.com/strata-paas/strata/controller/mock"
)

// Stratos' path from a load step to the start call (docs/stratos-wire.md §4.1, §8.1): the agent
// publishes every 15 s, the CEP summarizes 60 s windows and the monitor ticks every 90 s.
const (
	stratosStats  = 15 * time.Second
	stratosWindow = 60 * time.Second
	stratosTick   = 90 * time.Second
)

// stepAfter is how long the load stays at 10 before it steps to 60: the cluster is Active at min
// and has seen a full window of low load by then.
const stepAfter = 3 * time.Second

// measureReaction runs the single-cluster-scaling set-up (min 2, max 6, thresholds RIF 20 / MC
// 30 / LA 25, two round-robin partitions of 3) with a load step: memory consumption and load
// average 10, then 60 (continue). It returns the time from the first sample above MC 30 leaving
// the mock member (publish time) to the autoscaler's StartMember call for the scale-up.
//
// phase delays the step by that much past stepAfter, to move it within the CEP window (the
// windows and the pattern start together, within a few hundred milliseconds).
func measureReaction(tb testing.TB, phase time.Duration) time.Duration {
	tb.Helper()
	step := stepAfter + phase
	p := startPlatform(tb, options{Patterns: map[string][]mock.Pattern{"php": {
		{Factor: mock.MemoryConsumption, Values: []float64{10, 60}, Duration: step, Mode: mock.Continue},
		{Factor: mock.LoadAverage, Values: []float64{10, 60}, Duration: step, Mode: mock.Continue},
	}}, Policies: scalingPolicies(tb), Threshold: 30})
	defer p.stop()
	p.deploy()
	d := scalingCluster("reaction")
	p.createCluster(d)
	p.waitFor("a scale-up StartMember call", 30*time.Second, func() bool { return len(p.starts.startCalls()) > d.Min })
	first := p.firstAbove.Load()
	if first == 0 {
		tb.Fatal("a member was started beyond min before any sample above the threshold")
	}
	up := p.starts.startCalls()[d.Min]
	r := up.At.Sub(time.Unix(0, first))
	if r < 0 {
		tb.Fatalf("scale-up start %v before the first sample above the threshold", -r)
	}
	return r
}

// stratosReaction returns Stratos' best and worst reaction, in its windows: the step lands just
// before a stats publication, a window end and a tick, or just after each.
func stratosReaction() (best, worst float64) {
	return float64(stratosWindow) / float64(stratosWindow),
		float64(stratosStats+stratosWindow+stratosTick) / float64(stratosWindow)
}

// TestReaction: from the first sample above the threshold to the start call takes at most two CEP
// windows (the window the step lands in may average too low; the next one holds only high
// samples) plus the settle time, the health interval and slack for a loaded machine.
func TestReaction(t *testing.T) {
	t.Parallel()
	r := measureReaction(t, 0)
	windows := r.Seconds() / defaultWindow.Seconds()
	best, worst := stratosReaction()
	t.Logf("reaction %v = %.2f windows of %v (bound ≤ one window after the window the step lands in, + settle %v); Stratos %.2f-%.2f windows of %v (%v stats + %v window + up to %v tick)",
		r.Round(time.Millisecond), windows, defaultWindow, defaultSettle, best, worst, stratosWindow, stratosStats, stratosWindow, stratosTick)
	if bound := 2*defaultWindow + defaultSettle + defaultHealthInterval + time.Second; r > bound {
		t.Errorf("reaction %v > %v", r, bound)
	}
}

// BenchmarkReaction reports the reaction of TestReaction in CEP windows (windows/reaction) and in
// milliseconds at the bench's 2 s window (ms/reaction), beside Stratos' best and worst case in
// its own windows (stratos-best-windows, stratos-worst-windows). Each iteration starts a
// platform (ns/op is that whole run) and steps the load at another phase of the CEP window: run
// it with -benchtime=Nx for a mean over N phases spread evenly over one window. max-windows is
// the slowest of them.
func BenchmarkReaction(b *testing.B) {
	const phases = 6
	var total, slowest time.Duration
	n := 0
	for b.Loop() {
		r := measureReaction(b, time.Duration(n%phases)*defaultWindow/phases)
		total += r
		slowest = max(slowest, r)
		n++
	}
	mean := total / time.Duration(n)
	best, worst := stratosReaction()
	b.ReportMetric(mean.Seconds()/defaultWindow.Seconds(), "windows/reaction")
	b.ReportMetric(slowest.Seconds()/defaultWindow.Seconds(), "max-windows")
	b.ReportMetric(float64(mean.Milliseconds()), "ms/reaction")
	b.ReportMetric(best, "stratos-best-windows")
	b.ReportMetric(worst, "stratos-worst-windows")
}
