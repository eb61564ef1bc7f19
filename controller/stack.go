package controller

import (
	"slices"

	"github.com/strata-paas/strata/internal/model"
)

// usualStack is the state stack of a member that went the usual way, from Created to Active.
// Members whose stack is a prefix of it share its array instead of each holding its own (issue
// 17: 64 B a member, and an allocation at each of the four states).
var usualStack = [...]model.MemberStatus{model.MemberCreated, model.MemberInitialized, model.MemberStarting, model.MemberActive}

// shareStack points m's state stack at usualStack when it is a prefix of it. The shared slice's
// capacity is its length, so the next Push copies it: no member ever writes into usualStack.
func shareStack(m *model.Member) {
	st := m.MemberStateManager.StateStack
	if n := len(st); n > 0 && n <= len(usualStack) && slices.Equal(st, usualStack[:n]) {
		m.MemberStateManager.StateStack = usualStack[:n:n]
	}
}
