package cep

import (
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

var m1 = Member{ClusterID: "app.php.domain", ClusterInstanceID: "ci1", NetworkPartitionID: "np1", PartitionID: "p1", MemberID: "m1", Active: true}

// scanUntil runs a fault scan every interval from `from` to `to` (ms) and returns each fault with
// the time it was raised.
func scanUntil(e *Engine, from, to, interval int64) (faults []model.Summary, at []int64) {
	for now := from; now <= to; now += interval {
		for _, f := range scan(e, now) {
			faults = append(faults, f)
			at = append(at, now)
		}
	}
	return faults, at
}

// TestSilenceFault: a watched member that stops publishing gets exactly one fault, no earlier
// than the timeout and within timeout+5 s of its last event; publishing again re-arms it.
func TestSilenceFault(t *testing.T) {
	clk := newFakeClock()
	e := newTestEngine(t, Options{Clock: clk, StartupGrace: time.Millisecond})
	start := t0.UnixMilli()
	e.MemberActivated(m1)
	// The member publishes every 15 s for two minutes; engine time advances with the scans.
	var last int64
	for now := start; now <= start+120000; now += 1000 {
		if (now-start)%15000 == 0 {
			e.Ingest(health("m1", "ci1", "np1", model.MetricLoadAverage, 1, now))
			last = now
		}
		if f := scan(e, now); len(f) != 0 {
			t.Fatalf("fault at %d while the member publishes: %+v", now-start, f)
		}
	}
	faults, at := scanUntil(e, start+121000, start+30*60000, 1000)
	if len(faults) != 1 {
		t.Fatalf("faults after silence = %d, want exactly 1: %+v", len(faults), faults)
	}
	silence := at[0] - last
	if silence <= 60000 || silence > 65000 {
		t.Errorf("fault raised %d ms after the last event, want in (60000, 65000]", silence)
	}
	want := model.Summary{Kind: model.MemberFault, ClusterID: "app.php.domain", ClusterInstanceID: "ci1",
		NetworkPartitionID: "np1", MemberID: "m1", PartitionID: "p1"}
	if faults[0] != want {
		t.Errorf("fault = %+v, want %+v", faults[0], want)
	}
	// Publishing again re-arms the detector: the next silence gives one more fault.
	resume := start + 30*60000
	e.mu.Lock()
	e.now = resume
	e.mu.Unlock()
	e.Ingest(health("m1", "ci1", "np1", model.MetricLoadAverage, 1, resume))
	faults, _ = scanUntil(e, resume, resume+10*60000, 1000)
	if len(faults) != 1 {
		t.Errorf("faults after the second silence = %d, want 1", len(faults))
	}
}

// TestFaultCheckInterval: with a coarser scan the fault still never comes early and arrives within
// timeout + 2 intervals.
func TestFaultCheckInterval(t *testing.T) {
	for _, interval := range []int64{250, 1000, 2000} {
		clk := newFakeClock()
		e := newTestEngine(t, Options{Clock: clk, StartupGrace: time.Millisecond,
			FaultCheckInterval: time.Duration(interval) * time.Millisecond})
		start := t0.UnixMilli()
		e.MemberActivated(m1)
		// The event arrives just before a scan: engine time lags it by almost one interval.
		scan(e, start)
		arrival := start + interval - 1
		e.Ingest(health("m1", "ci1", "np1", model.MetricLoadAverage, 1, arrival))
		faults, at := scanUntil(e, start+interval, start+200000, interval)
		if len(faults) != 1 {
			t.Fatalf("interval %d: %d faults, want 1", interval, len(faults))
		}
		if d := at[0] - arrival; d <= 60000 || d > 60000+2*interval {
			t.Errorf("interval %d: fault %d ms after the event, want in (60000, %d]", interval, d, 60000+2*interval)
		}
	}
}

// TestUnknownMembersIgnored: members outside the topology view, or terminated ones, never fault
// on silence.
func TestUnknownMembersIgnored(t *testing.T) {
	e := newTestEngine(t, Options{StartupGrace: time.Millisecond})
	start := t0.UnixMilli()
	e.Ingest(health("stranger", "ci1", "np1", model.MetricLoadAverage, 1, start))
	e.MemberActivated(m1)
	e.MemberTerminated("m1")
	if faults, _ := scanUntil(e, start, start+10*60000, 1000); len(faults) != 0 {
		t.Errorf("faults for unknown or terminated members: %+v", faults)
	}
}

// TestStartupGrace: no silence fault before the grace ends; afterwards the silent member faults.
func TestStartupGrace(t *testing.T) {
	e := newTestEngine(t, Options{StartupGrace: 5 * time.Minute})
	start := t0.UnixMilli()
	e.MemberActivated(m1)
	faults, at := scanUntil(e, start, start+10*60000, 1000)
	if len(faults) != 1 {
		t.Fatalf("faults = %d, want 1", len(faults))
	}
	if at[0] < start+5*60000 {
		t.Errorf("fault at %d ms, inside the %d ms grace", at[0]-start, 5*60000)
	}
}

// TestPortsNotOpen: a ports_not_open stat is a fault at once, delivered by the Run goroutine.
func TestPortsNotOpen(t *testing.T) {
	e := newTestEngine(t, Options{StartupGrace: time.Hour})
	var got []model.Summary
	e.Subscribe(func(s model.Summary) { got = append(got, s) })
	e.Ingest(health("m9", "ci1", "np1", model.MetricPortsNotOpen, 0, 1))
	select {
	case <-e.wake:
	default:
		t.Fatal("ingest did not wake the Run goroutine")
	}
	e.deliverFaults()
	want := model.Summary{Kind: model.MemberFault, ClusterID: "app.php.domain", ClusterInstanceID: "ci1",
		NetworkPartitionID: "np1", MemberID: "m9", PartitionID: "p1"}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("delivered %+v, want [%+v]", got, want)
	}
	if st := e.Stats(); st.Faults != 1 {
		t.Errorf("faults counted %d, want 1", st.Faults)
	}
}

// TestSeedKeepsLastSeen: a complete topology does not reset the silence of members already watched
// (MemberActivated is putIfAbsent in Stratos).
func TestSeedKeepsLastSeen(t *testing.T) {
	clk := newFakeClock()
	e := newTestEngine(t, Options{Clock: clk, StartupGrace: time.Millisecond})
	start := t0.UnixMilli()
	e.MemberActivated(m1)
	clk.Advance(50 * time.Second)
	e.SeedTopology([]Member{m1})
	e.MemberActivated(m1)
	faults, at := scanUntil(e, start, start+200000, 1000)
	if len(faults) != 1 || at[0]-start > 65000 {
		t.Errorf("faults %+v at %v, want one within 65 s of activation", faults, at)
	}
}

// TestWatchedInvariant: the dense list of watched members stays consistent with the member map
// through activations, terminations, cluster removals and reconciliations.
func TestWatchedInvariant(t *testing.T) {
	e := newTestEngine(t, Options{})
	check := func(step string) {
		t.Helper()
		e.mu.Lock()
		defer e.mu.Unlock()
		tracked := 0
		for _, ms := range e.members {
			if ms.tracked {
				tracked++
			}
		}
		if tracked != len(e.watched) {
			t.Fatalf("%s: %d tracked members, %d watched", step, tracked, len(e.watched))
		}
		for i, ms := range e.watched {
			if ms.watchIdx != i || !ms.tracked || e.members[ms.id] != ms {
				t.Fatalf("%s: watched[%d] = %s is inconsistent", step, i, ms.id)
			}
		}
	}
	member := func(c, id string) Member {
		return Member{ClusterID: c, ClusterInstanceID: "ci", NetworkPartitionID: "np", PartitionID: "p", MemberID: id, Active: true}
	}
	var all []Member
	for i := range 60 {
		m := member([]string{"a", "b", "c"}[i%3], string(rune('A'+i)))
		all = append(all, m)
		e.MemberActivated(m)
	}
	e.Ingest(health("loose", "ci", "np", model.MetricLoadAverage, 1, 0)) // not watched
	check("activated")
	for i := 0; i < 60; i += 7 {
		e.MemberTerminated(all[i].MemberID)
	}
	e.MemberTerminated("unknown")
	check("terminated")
	e.ClusterRemoved("b")
	check("cluster removed")
	e.SeedTopology(all[:30])
	check("reconciled")
	e.SeedTopology(all)
	check("seeded again")
	if st := e.Stats(); st.WatchedMembers != 60 {
		t.Errorf("watched %d, want 60", st.WatchedMembers)
	}
}
