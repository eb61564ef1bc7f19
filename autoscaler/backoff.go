package autoscaler

import (
	"fmt"
	"time"
)

// Crash-loop back-off: a member that ends on its own soon after it started (before it became
// Active, or within CrashLoopWindow of becoming Active) is a quick failure of its cluster
// instance. The first is replaced at once; after the next ones no member of the instance is
// started until its back-off has passed: the delay doubles from CrashLoopBase with each quick
// failure in a row, up to CrashLoopMax. A member
// Active for CrashLoopWindow ends the run. After CrashLoopFailing quick failures in a row the
// instance is failing (CrashLoop.Failing, the runtime view) and keeps retrying at the cap rather
// than churning.
const (
	CrashLoopWindow  = 60 * time.Second
	CrashLoopBase    = 5 * time.Second
	CrashLoopMax     = 5 * time.Minute
	CrashLoopFailing = 5
)

// crashLoop is a cluster instance's run of quick failures.
type crashLoop struct {
	failures int
	until    time.Time // no start before
}

// CrashLoop is a cluster instance's crash-loop back-off, for the runtime view.
type CrashLoop struct {
	ClusterInstanceID string
	Failures          int       // quick failures in a row
	Until             time.Time // no member is started before
	Failing           bool      // Failures reached CrashLoopFailing
}

// crashBackoff is the delay after n quick failures in a row: none after the first (one crash is
// replaced at once), then CrashLoopBase doubling up to CrashLoopMax.
func crashBackoff(n int) time.Duration {
	if n < 2 {
		return 0
	}
	d := CrashLoopBase
	for i := 2; i < n && d < CrashLoopMax; i++ {
		d *= 2
	}
	return min(d, CrashLoopMax)
}

// memberEndedLocked counts a member that ended on its own soon after it started as a quick
// failure of its instance; one the autoscaler was terminating (termination pending, obsolete)
// is not one, and one that was Active long enough ends the run.
func (a *Autoscaler) memberEndedLocked(m *member, now time.Time) {
	cl := &m.in.crash
	switch m.list {
	case listPending:
	case listActive:
		if now.Sub(m.since) >= CrashLoopWindow {
			*cl = crashLoop{}
			return
		}
	default:
		return
	}
	cl.failures++
	cl.until = now.Add(crashBackoff(cl.failures))
	if cl.failures == CrashLoopFailing {
		a.log.Error("cluster instance is crash-looping: its members end soon after they start; starts are held back",
			"cluster", m.in.c.id, "instance", m.in.id, "failures", cl.failures, "until", cl.until)
	}
}

// crashHoldLocked reports whether the instance's starts are held back by its crash-loop
// back-off, and says so in the run's trace (Trace.HeldBack). The instance is due again when the
// back-off ends. A member that has been Active for CrashLoopWindow ends the run first.
func (a *Autoscaler) crashHoldLocked(in *instance, r *run, now time.Time) bool {
	cl := &in.crash
	if !crashRunLocked(in, now) || !now.Before(cl.until) {
		return false
	}
	r.tr.HeldBack = fmt.Sprintf("crash-loop back-off until %s, %d quick failures", cl.until.UTC().Format(time.RFC3339), cl.failures)
	if cl.failures >= CrashLoopFailing {
		r.tr.HeldBack += "; cluster instance failing"
	}
	a.queue.schedule(in, cl.until)
	return true
}

// crashRunLocked reports whether the instance is in a run of quick failures, ending the run when
// one of its members has been Active for CrashLoopWindow.
func crashRunLocked(in *instance, now time.Time) bool {
	if in.crash.failures == 0 {
		return false
	}
	for i := range in.parts {
		for _, m := range in.parts[i].lists[listActive] {
			if now.Sub(m.since) >= CrashLoopWindow {
				in.crash = crashLoop{}
				return false
			}
		}
	}
	return true
}

// heldBackReason adds the crash-loop hold to a decision's reason.
func heldBackReason(r *run) {
	if r.tr.HeldBack == "" {
		return
	}
	if r.res.reason != "" {
		r.res.reason += "; "
	}
	r.res.reason += "start held back: " + r.tr.HeldBack
}

// CrashLoop returns the crash-loop back-off of the cluster's instance with the most quick
// failures, if one has any.
func (a *Autoscaler) CrashLoop(clusterID string) (CrashLoop, bool) {
	now := a.clock.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.clusters[clusterID]
	if c == nil {
		return CrashLoop{}, false
	}
	var out CrashLoop
	for _, in := range c.instances {
		if crashRunLocked(in, now) && in.crash.failures > out.Failures {
			out = CrashLoop{ClusterInstanceID: in.id, Failures: in.crash.failures, Until: in.crash.until,
				Failing: in.crash.failures >= CrashLoopFailing}
		}
	}
	return out, out.Failures > 0
}
