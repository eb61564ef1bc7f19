package model

import (
	"errors"
	"strings"
	"testing"
)

// transitionCase is one transition of any state machine, already evaluated.
type transitionCase struct {
	name    string
	allowed bool
	err     error
	from    string
	to      string
}

func memberCase(from, to MemberStatus) transitionCase {
	return transitionCase{name: "member " + string(from) + "->" + string(to),
		allowed: from.CanTransition(to), err: from.Transition(to), from: string(from), to: string(to)}
}

func clusterCase(from, to ClusterStatus) transitionCase {
	return transitionCase{name: "cluster " + string(from) + "->" + string(to),
		allowed: from.CanTransition(to), err: from.Transition(to), from: string(from), to: string(to)}
}

func applicationCase(from, to ApplicationStatus) transitionCase {
	return transitionCase{name: "application " + string(from) + "->" + string(to),
		allowed: from.CanTransition(to), err: from.Transition(to), from: string(from), to: string(to)}
}

func groupCase(from, to GroupStatus) transitionCase {
	return transitionCase{name: "group " + string(from) + "->" + string(to),
		allowed: from.CanTransition(to), err: from.Transition(to), from: string(from), to: string(to)}
}

func TestAllowedTransitions(t *testing.T) {
	var cases []transitionCase
	// Member (§1.6), self-transitions included.
	for _, p := range [][2]MemberStatus{
		{MemberCreated, MemberInitialized}, {MemberInitialized, MemberStarting}, {MemberStarting, MemberActive},
		{MemberActive, MemberSuspended}, {MemberActive, MemberInMaintenance}, {MemberActive, MemberStarting},
		{MemberInMaintenance, MemberReadyToShutDown}, {MemberReadyToShutDown, MemberTerminated},
		{MemberSuspended, MemberTerminated},
	} {
		cases = append(cases, memberCase(p[0], p[1]))
	}
	for _, s := range MemberStatuses() {
		cases = append(cases, memberCase(s, s))
	}
	for _, p := range [][2]ClusterStatus{
		{ClusterCreated, ClusterActive}, {ClusterCreated, ClusterTerminating},
		{ClusterActive, ClusterInactive}, {ClusterActive, ClusterPatching}, {ClusterActive, ClusterTerminating},
		{ClusterInactive, ClusterActive}, {ClusterInactive, ClusterTerminating},
		{ClusterTerminating, ClusterTerminated}, {ClusterTerminating, ClusterCreated},
		{ClusterPatching, ClusterActive},
	} {
		cases = append(cases, clusterCase(p[0], p[1]))
	}
	for _, p := range [][2]ApplicationStatus{
		{ApplicationCreated, ApplicationActive}, {ApplicationCreated, ApplicationTerminating},
		{ApplicationActive, ApplicationInactive}, {ApplicationInactive, ApplicationActive},
		{ApplicationActive, ApplicationTerminating}, {ApplicationInactive, ApplicationTerminating},
		{ApplicationTerminating, ApplicationTerminated},
	} {
		cases = append(cases, applicationCase(p[0], p[1]))
	}
	for _, p := range [][2]GroupStatus{
		{GroupCreated, GroupActive}, {GroupCreated, GroupTerminating},
		{GroupActive, GroupInactive}, {GroupInactive, GroupActive},
		{GroupActive, GroupTerminating}, {GroupInactive, GroupTerminating},
		{GroupTerminating, GroupTerminated}, {GroupTerminating, GroupCreated},
	} {
		cases = append(cases, groupCase(p[0], p[1]))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !c.allowed || c.err != nil {
				t.Errorf("CanTransition = %v, Transition = %v; want allowed", c.allowed, c.err)
			}
		})
	}
}

func TestInvalidTransitions(t *testing.T) {
	cases := []transitionCase{
		memberCase(MemberCreated, MemberActive),
		memberCase(MemberCreated, MemberTerminated),
		memberCase(MemberInitialized, MemberActive),
		memberCase(MemberStarting, MemberInMaintenance),
		memberCase(MemberActive, MemberTerminated),
		memberCase(MemberActive, MemberReadyToShutDown),
		memberCase(MemberInMaintenance, MemberActive),
		memberCase(MemberReadyToShutDown, MemberActive),
		memberCase(MemberSuspended, MemberActive),
		memberCase(MemberTerminated, MemberCreated),
		memberCase(MemberTerminated, MemberActive),
		memberCase(MemberActive, "Bogus"),
		memberCase("Bogus", "Bogus"),
		clusterCase(ClusterCreated, ClusterCreated),
		clusterCase(ClusterCreated, ClusterInactive),
		clusterCase(ClusterCreated, ClusterTerminated),
		clusterCase(ClusterActive, ClusterCreated),
		clusterCase(ClusterActive, ClusterTerminated),
		clusterCase(ClusterInactive, ClusterPatching),
		clusterCase(ClusterPatching, ClusterTerminating),
		clusterCase(ClusterTerminating, ClusterActive),
		clusterCase(ClusterTerminated, ClusterCreated),
		applicationCase(ApplicationCreated, ApplicationInactive),
		applicationCase(ApplicationTerminating, ApplicationCreated),
		applicationCase(ApplicationTerminated, ApplicationActive),
		applicationCase(ApplicationActive, ApplicationTerminated),
		groupCase(GroupCreated, GroupTerminated),
		groupCase(GroupTerminated, GroupCreated),
		groupCase(GroupTerminating, GroupActive),
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.allowed {
				t.Fatalf("CanTransition = true, want false")
			}
			if c.err == nil {
				t.Fatal("Transition = nil, want an error")
			}
			if !errors.Is(c.err, ErrInvalidTransition) {
				t.Errorf("error %v does not wrap ErrInvalidTransition", c.err)
			}
			var te *TransitionError
			if !errors.As(c.err, &te) {
				t.Errorf("error %v is not a *TransitionError", c.err)
			}
			msg := c.err.Error()
			if !strings.Contains(msg, c.from) || !strings.Contains(msg, c.to) {
				t.Errorf("error %q does not name both %q and %q", msg, c.from, c.to)
			}
		})
	}
}

func TestMemberStatusStack(t *testing.T) {
	var m Member
	if got := m.Status(); got != "" {
		t.Errorf("empty member status = %q", got)
	}
	for _, s := range []MemberStatus{MemberCreated, MemberInitialized, MemberStarting, MemberActive, MemberActive} {
		if err := m.SetStatus(s); err != nil {
			t.Fatalf("SetStatus(%s): %v", s, err)
		}
	}
	if got := m.Status(); got != MemberActive {
		t.Errorf("Status = %s, want Active", got)
	}
	err := m.SetStatus(MemberTerminated)
	if err == nil || !strings.Contains(err.Error(), "Active") || !strings.Contains(err.Error(), "Terminated") {
		t.Errorf("SetStatus(Terminated) from Active = %v, want an error naming both", err)
	}
	if got := len(m.MemberStateManager.StateStack); got != 5 {
		t.Errorf("stack length %d after a refused transition, want 5", got)
	}
	m.PushStatus(MemberTerminated) // unchecked
	if got := m.Status(); got != MemberTerminated {
		t.Errorf("Status after PushStatus = %s", got)
	}

	var ci ClusterInstance
	if err := ci.SetStatus(ClusterCreated); err != nil {
		t.Fatal(err)
	}
	if err := ci.SetStatus(ClusterTerminated); err == nil {
		t.Error("cluster instance Created->Terminated allowed")
	}
	if ci.Status() != ClusterCreated {
		t.Errorf("cluster instance status = %s", ci.Status())
	}
}

func TestStatusLists(t *testing.T) {
	if n := len(MemberStatuses()); n != 8 {
		t.Errorf("%d member states, want 8", n)
	}
	for _, s := range MemberStatuses() {
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
	}
	for _, s := range ClusterStatuses() {
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
	}
	for _, s := range ApplicationStatuses() {
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
	}
	for _, s := range GroupStatuses() {
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
	}
}
