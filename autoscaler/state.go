package autoscaler

import (
	"container/heap"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// cluster groups the instances of one cluster and the policies they use.
type cluster struct {
	id, service, app, tenant string
	autoscalePolicy          string
	deploymentPolicy         string
	instances                map[string]*instance
}

// list is one of the member lists of a partition context (§4.8).
type list uint8

const (
	listPending list = iota
	listActive
	listTerminationPending
	listObsolete
	numLists
)

var listNames = [numLists]string{"pending", "active", "termination-pending", "obsolete"}

func (l list) String() string { return listNames[l] }

// stat3 is a member's average, gradient and second derivative of one metric.
type stat3 struct{ avg, grad, sd float64 }

func (s stat3) predict() float64 { return Predict(s.avg, s.grad, s.sd) }

// member is one member in one list of one partition context. The small fields come last: 144 B
// a member, not 160 (a struct pads each field to its next field's alignment).
type member struct {
	id       string
	in       *instance
	part     int
	since    time.Time // entered its list (initTime for pending, obsoleteInitTime for obsolete)
	la, mc   stat3
	asked    time.Time // a round last asked it to leave (cleanup, terminate) in its list; zero: not yet
	seq      uint64    // joined its list after every member with a lower seq (joinLocked)
	list     list
	hasStats bool // Stratos' MemberStatsContext exists
}

// partition is a ClusterLevelPartitionContext: one partition of the deployment policy.
type partition struct {
	id       string
	max      int
	obsolete bool // gone from the deployment policy; drained, then removed
	lists    [numLists][]*member
	starting int // start calls decided and not yet answered
	expiries int // pending members that expired (the timeout doubles after 5)
}

func (p *partition) nonTerminated() int {
	return len(p.lists[listPending]) + len(p.lists[listActive]) + p.starting
}

// family is one metric family of a cluster instance (RIF, MC or LA) with Stratos' reset gating.
type family struct {
	avg, grad, sd float64
	fresh         uint8 // components received since the last scaling run
	reset         bool  // all three components fresh (rifReset, mcReset, laReset)
	last          time.Time
}

// instance is a ClusterInstanceContext and its monitor.
type instance struct {
	c        *cluster
	id       string
	np       string
	min, max int
	status   model.ClusterStatus
	created  time.Time

	dep   *policies.Deployment // the deployment policy parts was built from
	algo  policies.PartitionAlgorithm
	parts []partition

	fam [3]family

	activeSince       time.Time // when active last went from 0 to more; metrics can only go missing after it
	terminatedSent    bool      // ClusterStatusClusterTerminatedEvent published
	scaleDownRequests int
	window            []sample // required counts for the stabilization windows
	missingEpisode    bool     // the missing-metrics action already ran for this outage
	shadows           map[string]*shadowState

	nextTick time.Time
	due      time.Time
	heapIdx  int
	trigger  string

	ring      []model.Decision
	ringNext  int
	lastTrace []byte // the enforced policy's last trace, shared while unchanged

	ended []StartError // pending members that ended before Active, for the next decision's trace
	crash crashLoop    // quick failures in a row (backoff.go)

	pushed pushedFactor // the factor its scaling dependents' parent pushed down (tree_scaling.go)
}

type sample struct {
	at       time.Time
	required int
}

type shadowState struct {
	policy            *policies.Autoscaling
	scaleDownRequests int
	window            []sample
}

func (in *instance) ringAt(i int) model.Decision {
	if len(in.ring) < cap(in.ring) {
		return in.ring[i]
	}
	return in.ring[(in.ringNext+i)%len(in.ring)]
}

// keep puts d into the ring of the instance's recent decisions (Decisions).
func (in *instance) keep(d model.Decision) {
	if len(in.ring) < cap(in.ring) {
		in.ring = append(in.ring, d)
	} else {
		in.ring[in.ringNext] = d
		in.ringNext = (in.ringNext + 1) % len(in.ring)
	}
}

func (in *instance) count(l list) int {
	n := 0
	for p := range in.parts {
		n += len(in.parts[p].lists[l])
	}
	return n
}

func (in *instance) starting() int {
	n := 0
	for p := range in.parts {
		n += in.parts[p].starting
	}
	return n
}

func (in *instance) nonTerminated() int {
	n := 0
	for p := range in.parts {
		n += in.parts[p].nonTerminated()
	}
	return n
}

// Trigger names, recorded in traces.
const (
	triggerTick    = "tick"
	triggerMetrics = "metrics"
	triggerEvent   = "member-event"
)

// instQueue is a min-heap of instances by due time: the scheduler.
type instQueue []*instance

func (q instQueue) Len() int           { return len(q) }
func (q instQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q instQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].heapIdx, q[j].heapIdx = i, j
}
func (q *instQueue) Push(x any) {
	in := x.(*instance)
	in.heapIdx = len(*q)
	*q = append(*q, in)
}
func (q *instQueue) Pop() any {
	old := *q
	in := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	in.heapIdx = -1
	return in
}

// schedule makes in due no later than at.
func (q *instQueue) schedule(in *instance, at time.Time) {
	if in.heapIdx >= 0 {
		if !at.Before(in.due) {
			return
		}
		in.due = at
		heap.Fix(q, in.heapIdx)
		return
	}
	in.due = at
	heap.Push(q, in)
}

// reschedule sets in's due time (later or earlier).
func (q *instQueue) reschedule(in *instance, at time.Time) {
	in.due = at
	if in.heapIdx >= 0 {
		heap.Fix(q, in.heapIdx)
		return
	}
	heap.Push(q, in)
}

func (q *instQueue) remove(in *instance) {
	if in.heapIdx >= 0 {
		heap.Remove(q, in.heapIdx)
	}
}
