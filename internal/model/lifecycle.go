package model

import (
	"errors"
	"fmt"
)

// ErrInvalidTransition is wrapped by every *TransitionError.
var ErrInvalidTransition = errors.New("model: invalid lifecycle transition")

// TransitionError reports a lifecycle transition that the state machine does not allow.
type TransitionError struct {
	Entity string // "member", "cluster instance", "application" or "group"
	From   string
	To     string
}

// Error names the entity and both states.
func (e *TransitionError) Error() string {
	return fmt.Sprintf("model: %s cannot go from %s to %s", e.Entity, e.From, e.To)
}

// Unwrap returns ErrInvalidTransition.
func (e *TransitionError) Unwrap() error { return ErrInvalidTransition }

// State is a lifecycle state: an enum that knows its allowed transitions. It is implemented by
// MemberStatus, ClusterStatus, ApplicationStatus and GroupStatus.
type State[S any] interface {
	~string
	CanTransition(to S) bool
	Transition(to S) error
}

// StateManager is Stratos' LifeCycleStateManager: the stack of states an entity went through, the
// current one last (the Python agent reads exactly that), and an identifier used in logs.
type StateManager[S State[S]] struct {
	StateStack []S    `json:"stateStack"`
	Identifier string `json:"identifier,omitempty"`
}

// Status is the current state: the last element of the stack, or "" when the stack is empty.
func (m StateManager[S]) Status() S {
	if len(m.StateStack) == 0 {
		return ""
	}
	return m.StateStack[len(m.StateStack)-1]
}

// Push appends a state without checking the transition (use it to rebuild a known history).
func (m *StateManager[S]) Push(s S) { m.StateStack = append(m.StateStack, s) }

// Change moves to the state if the transition from the current state is allowed, and returns a
// *TransitionError otherwise. An empty stack accepts any first state.
func (m *StateManager[S]) Change(to S) error {
	if len(m.StateStack) > 0 {
		if err := m.Status().Transition(to); err != nil {
			return err
		}
	}
	m.Push(to)
	return nil
}

// MemberStatus is the lifecycle state of a member (MSG/domain/topology/MemberStatus.java). Its
// JSON form is the Java constant name. The allowed transitions, besides staying in the same state:
//
//	Created --> Initialized --> Starting --> Active --> In_Maintenance --> ReadyToShutDown --> Terminated
//	                               ^           |  |                                               ^
//	                               |           |  |                                               |
//	                               +-----------+  +--> Suspended ---------------------------------+
//
// That is: Active may go back to Starting, or on to In_Maintenance or Suspended; Suspended and
// ReadyToShutDown end in Terminated, which is final.
type MemberStatus string

// The member states, with the ordinal of the Java enum in the comment.
const (
	MemberCreated         MemberStatus = "Created"         // 0
	MemberInitialized     MemberStatus = "Initialized"     // 1
	MemberStarting        MemberStatus = "Starting"        // 2
	MemberActive          MemberStatus = "Active"          // 3
	MemberInMaintenance   MemberStatus = "In_Maintenance"  // 4
	MemberReadyToShutDown MemberStatus = "ReadyToShutDown" // 5
	MemberSuspended       MemberStatus = "Suspended"       // 6
	MemberTerminated      MemberStatus = "Terminated"      // 7
)

var memberTransitions = map[MemberStatus][]MemberStatus{
	MemberCreated:         {MemberInitialized},
	MemberInitialized:     {MemberStarting},
	MemberStarting:        {MemberActive},
	MemberActive:          {MemberSuspended, MemberInMaintenance, MemberStarting},
	MemberInMaintenance:   {MemberReadyToShutDown},
	MemberReadyToShutDown: {MemberTerminated},
	MemberSuspended:       {MemberTerminated},
	MemberTerminated:      nil,
}

// MemberStatuses lists the member states in the order of the Java enum.
func MemberStatuses() []MemberStatus {
	return []MemberStatus{MemberCreated, MemberInitialized, MemberStarting, MemberActive,
		MemberInMaintenance, MemberReadyToShutDown, MemberSuspended, MemberTerminated}
}

// Valid reports whether s is one of the member states.
func (s MemberStatus) Valid() bool { _, ok := memberTransitions[s]; return ok }

// CanTransition reports whether a member may go from s to the state; staying in s is allowed.
func (s MemberStatus) CanTransition(to MemberStatus) bool {
	if !s.Valid() || !to.Valid() {
		return false
	}
	return s == to || contains(memberTransitions[s], to)
}

// Transition returns nil when CanTransition allows the move and a *TransitionError otherwise.
func (s MemberStatus) Transition(to MemberStatus) error {
	if s.CanTransition(to) {
		return nil
	}
	return &TransitionError{Entity: "member", From: string(s), To: string(to)}
}

// ClusterStatus is the lifecycle state of a cluster instance (MSG/domain/topology/ClusterStatus.java).
// The allowed transitions (staying in the same state is not one of them):
//
//	  +-------------------------------------+
//	  v                                     |
//	Created -----> Active <-----> Inactive  |
//	  |            | ^  |            |      |
//	  |            v |  |            |      |
//	  |         Patching|            |      |
//	  |                 v            |      |
//	  +---------> Terminating <------+      |
//	                |    |                  |
//	                |    +------------------+
//	                v
//	            Terminated
//
// That is: Created->{Active, Terminating}; Active->{Inactive, Patching, Terminating};
// Inactive->{Active, Terminating}; Patching->Active; Terminating->{Terminated, Created}.
type ClusterStatus string

// The cluster instance states.
const (
	ClusterCreated     ClusterStatus = "Created"
	ClusterActive      ClusterStatus = "Active"
	ClusterInactive    ClusterStatus = "Inactive"
	ClusterPatching    ClusterStatus = "Patching"
	ClusterTerminating ClusterStatus = "Terminating"
	ClusterTerminated  ClusterStatus = "Terminated"
)

var clusterTransitions = map[ClusterStatus][]ClusterStatus{
	ClusterCreated:     {ClusterActive, ClusterTerminating},
	ClusterActive:      {ClusterInactive, ClusterPatching, ClusterTerminating},
	ClusterInactive:    {ClusterActive, ClusterTerminating},
	ClusterPatching:    {ClusterActive},
	ClusterTerminating: {ClusterTerminated, ClusterCreated},
	ClusterTerminated:  nil,
}

// ClusterStatuses lists the cluster instance states.
func ClusterStatuses() []ClusterStatus {
	return []ClusterStatus{ClusterCreated, ClusterActive, ClusterInactive, ClusterPatching,
		ClusterTerminating, ClusterTerminated}
}

// Valid reports whether s is one of the cluster states.
func (s ClusterStatus) Valid() bool { _, ok := clusterTransitions[s]; return ok }

// CanTransition reports whether a cluster instance may go from s to the state.
func (s ClusterStatus) CanTransition(to ClusterStatus) bool {
	return s.Valid() && contains(clusterTransitions[s], to)
}

// Transition returns nil when CanTransition allows the move and a *TransitionError otherwise.
func (s ClusterStatus) Transition(to ClusterStatus) error {
	if s.CanTransition(to) {
		return nil
	}
	return &TransitionError{Entity: "cluster instance", From: string(s), To: string(to)}
}

// ApplicationStatus is the lifecycle state of an application instance
// (MSG/domain/application/ApplicationStatus.java). Allowed: Created->{Active, Terminating};
// Active<->Inactive; {Active, Inactive}->Terminating->Terminated.
type ApplicationStatus string

// The application states.
const (
	ApplicationCreated     ApplicationStatus = "Created"
	ApplicationActive      ApplicationStatus = "Active"
	ApplicationInactive    ApplicationStatus = "Inactive"
	ApplicationTerminating ApplicationStatus = "Terminating"
	ApplicationTerminated  ApplicationStatus = "Terminated"
)

var applicationTransitions = map[ApplicationStatus][]ApplicationStatus{
	ApplicationCreated:     {ApplicationActive, ApplicationTerminating},
	ApplicationActive:      {ApplicationInactive, ApplicationTerminating},
	ApplicationInactive:    {ApplicationActive, ApplicationTerminating},
	ApplicationTerminating: {ApplicationTerminated},
	ApplicationTerminated:  nil,
}

// ApplicationStatuses lists the application states.
func ApplicationStatuses() []ApplicationStatus {
	return []ApplicationStatus{ApplicationCreated, ApplicationActive, ApplicationInactive,
		ApplicationTerminating, ApplicationTerminated}
}

// Valid reports whether s is one of the application states.
func (s ApplicationStatus) Valid() bool { _, ok := applicationTransitions[s]; return ok }

// CanTransition reports whether an application instance may go from s to the state.
func (s ApplicationStatus) CanTransition(to ApplicationStatus) bool {
	return s.Valid() && contains(applicationTransitions[s], to)
}

// Transition returns nil when CanTransition allows the move and a *TransitionError otherwise.
func (s ApplicationStatus) Transition(to ApplicationStatus) error {
	if s.CanTransition(to) {
		return nil
	}
	return &TransitionError{Entity: "application", From: string(s), To: string(to)}
}

// GroupStatus is the lifecycle state of a group instance (MSG/domain/application/GroupStatus.java):
// the application machine plus Terminating->Created.
type GroupStatus string

// The group states.
const (
	GroupCreated     GroupStatus = "Created"
	GroupActive      GroupStatus = "Active"
	GroupInactive    GroupStatus = "Inactive"
	GroupTerminating GroupStatus = "Terminating"
	GroupTerminated  GroupStatus = "Terminated"
)

var groupTransitions = map[GroupStatus][]GroupStatus{
	GroupCreated:     {GroupActive, GroupTerminating},
	GroupActive:      {GroupInactive, GroupTerminating},
	GroupInactive:    {GroupActive, GroupTerminating},
	GroupTerminating: {GroupTerminated, GroupCreated},
	GroupTerminated:  nil,
}

// GroupStatuses lists the group states.
func GroupStatuses() []GroupStatus {
	return []GroupStatus{GroupCreated, GroupActive, GroupInactive, GroupTerminating, GroupTerminated}
}

// Valid reports whether s is one of the group states.
func (s GroupStatus) Valid() bool { _, ok := groupTransitions[s]; return ok }

// CanTransition reports whether a group instance may go from s to the state.
func (s GroupStatus) CanTransition(to GroupStatus) bool {
	return s.Valid() && contains(groupTransitions[s], to)
}

// Transition returns nil when CanTransition allows the move and a *TransitionError otherwise.
func (s GroupStatus) Transition(to GroupStatus) error {
	if s.CanTransition(to) {
		return nil
	}
	return &TransitionError{Entity: "group", From: string(s), To: string(to)}
}

func contains[S comparable](list []S, v S) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
