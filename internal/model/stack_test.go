package model

import (
	"slices"
	"testing"
)

// TestMembersShareTheUsualStack: members on the usual way from Created to Active share one state
// stack, and a member that leaves it (a push, here Terminated) gets its own without changing
// the others'.
func TestMembersShareTheUsualStack(t *testing.T) {
	var a, b Member
	for _, s := range usualStack {
		for _, m := range []*Member{&a, &b} {
			if err := m.SetStatus(s); err != nil {
				t.Fatal(err)
			}
		}
		if &a.MemberStateManager.StateStack[0] != &b.MemberStateManager.StateStack[0] {
			t.Fatalf("at %s the members hold two stacks", s)
		}
	}
	a.PushStatus(MemberTerminated)
	want := []MemberStatus{MemberCreated, MemberInitialized, MemberStarting, MemberActive}
	if !slices.Equal(b.MemberStateManager.StateStack, want) || !slices.Equal(usualStack[:], want) {
		t.Errorf("after a's push, b's stack is %v and the shared one %v, want %v", b.MemberStateManager.StateStack, usualStack, want)
	}
	if got := a.MemberStateManager.StateStack; !slices.Equal(got, append(want, MemberTerminated)) {
		t.Errorf("a's stack %v", got)
	}
}
