package cep

import (
	"math/bits"

	"github.com/strata-paas/strata/internal/model"
)

// A window end emits six summaries per member at 100 000 members: 600 000 model.Summary values of
// 120 B would be 72 MB, kept until history has taken them, and the engine, the history queue and
// the history loop each hold such a slice (issue 17: 169 MB of the scale harness's heap). A
// pending value instead holds one window end of one key (its average, gradient and second
// derivative) with a pointer to the key's ids: 48 B for up to three summaries. It becomes
// model.Summary values only when it is handed on: one at a time to the subscribers and the
// Publisher, in chunks of historyChunk into a reused slice for the Recorder.

// ids are the names that the summaries of a member or a key carry. A value is never changed once
// it exists, because pending summaries point at it from other goroutines: when the names change,
// named makes a new one.
type ids struct {
	member, cluster, instance, np, partition string
}

// named returns cur when it holds the names n, and a new ids holding them otherwise. The names
// rarely change, so a key allocates once.
func named(cur *ids, n ids) *ids {
	if cur != nil && *cur == n {
		return cur
	}
	c := n // not &n: n would escape, and be allocated, on every call
	return &c
}

// Kind sets of pending values: kindSets[set][i] is the kind of value i.
const (
	setCluster = 0 // + metric: clusterKinds
	setMember  = 3 // + metric: memberKinds
	setFault   = 5
)

var kindSets = [6][3]model.SummaryKind{
	setCluster + metricLoad:   clusterKinds[metricLoad],
	setCluster + metricMemory: clusterKinds[metricMemory],
	setCluster + metricRIF:    clusterKinds[metricRIF],
	setMember + metricLoad:    memberKinds[metricLoad],
	setMember + metricMemory:  memberKinds[metricMemory],
	setFault:                  {model.MemberFault},
}

// pending is up to three summaries waiting for delivery: the values of one window end of one key
// (average, gradient, second derivative), or one member fault. Its summaries are, in order, the
// values whose bit is set in mask.
type pending struct {
	ids  *ids
	vals [3]float64
	ts   int64 // the Timestamp of every summary: the window end, 0 for a fault
	set  uint8 // index of kindSets
	mask uint8
}

// count is the number of summaries of p.
func (p *pending) count() int { return bits.OnesCount8(p.mask) }

// summary is value i of p as a model.Summary. Only a fault carries the partition, as on the wire.
func (p *pending) summary(i int) model.Summary {
	s := model.Summary{
		Kind:               kindSets[p.set][i],
		ClusterID:          p.ids.cluster,
		ClusterInstanceID:  p.ids.instance,
		NetworkPartitionID: p.ids.np,
		MemberID:           p.ids.member,
		Value:              p.vals[i],
		Timestamp:          p.ts,
	}
	if s.Kind == model.MemberFault {
		s.PartitionID = p.ids.partition
	}
	return s
}

// summaries yields the summaries of p, in order.
func (p *pending) summaries(yield func(model.Summary) bool) {
	for i := range p.vals {
		if p.mask&(1<<i) != 0 && !yield(p.summary(i)) {
			return
		}
	}
}

// faultPending is a member fault with the names of n.
func faultPending(n *ids) pending {
	return pending{ids: n, set: setFault, mask: 1}
}

// firstOf is p with its first n summaries only.
func firstOf(p pending, n int) pending {
	var keep uint8
	for m := p.mask; n > 0 && m != 0; n-- {
		low := m & -m
		keep |= low
		m &^= low
	}
	p.mask = keep
	return p
}

// weight is the number of summaries of ps.
func weight(ps []pending) int {
	n := 0
	for i := range ps {
		n += ps[i].count()
	}
	return n
}

// appendSummaries appends the summaries of ps to dst, in order.
func appendSummaries(dst []model.Summary, ps []pending) []model.Summary {
	for i := range ps {
		for s := range ps[i].summaries {
			dst = append(dst, s)
		}
	}
	return dst
}

// released is what a delivered buffer of pending values becomes: emptied and kept when small,
// dropped when it held a window end (more than historyChunk values), so that no window's worth
// of summaries stays on the heap between ticks; the next window end allocates its buffer at the
// size of the last one (Engine.outHint).
func released(ps []pending) []pending {
	if cap(ps) > historyChunk {
		return nil
	}
	clear(ps)
	return ps[:0]
}

// chunk returns the longest prefix of ps (at least one value) whose summaries number at most
// limit, and how many they are.
func chunk(ps []pending, limit int) ([]pending, int) {
	n, i := 0, 0
	for i < len(ps) {
		c := ps[i].count()
		if i > 0 && n+c > limit {
			break
		}
		n += c
		i++
	}
	return ps[:i], n
}

// without returns a copy of ps without its first n summaries: a value that was taken in part
// keeps the rest of its summaries.
func without(ps []pending, n int) []pending {
	i := 0
	for ; i < len(ps) && n >= ps[i].count(); i++ {
		n -= ps[i].count()
	}
	rest := make([]pending, len(ps)-i)
	copy(rest, ps[i:])
	if n > 0 && len(rest) > 0 {
		rest[0].mask &^= firstOf(rest[0], n).mask // the value was taken in part
	}
	return rest
}
