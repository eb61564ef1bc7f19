package cep

import (
	"math"
	"slices"

	"github.com/strata-paas/strata/internal/model"
)

// Summary kinds per metric: average, gradient, second derivative, at cluster and member level.
var (
	clusterKinds = [3][3]model.SummaryKind{
		metricLoad:   {model.AverageLoadAverage, model.GradientOfLoadAverage, model.SecondDerivativeOfLoadAverage},
		metricMemory: {model.AverageMemoryConsumption, model.GradientOfMemoryConsumption, model.SecondDerivativeOfMemoryConsumption},
		metricRIF:    {model.AverageRequestsInFlight, model.GradientOfRequestsInFlight, model.SecondDerivativeOfRequestsInFlight},
	}
	memberKinds = [2][3]model.SummaryKind{
		metricLoad:   {model.MemberAverageLoadAverage, model.MemberGradientOfLoadAverage, model.MemberSecondDerivativeOfLoadAverage},
		metricMemory: {model.MemberAverageMemoryConsumption, model.MemberGradientOfMemoryConsumption, model.MemberSecondDerivativeOfMemoryConsumption},
	}
)

// endLocked computes a window's batch and moves it on to the next one.
func (e *Engine) endLocked(w *window, next int) batch {
	if e.sliding {
		b := w.slideResult()
		w.slide(next)
		return b
	}
	b := w.result()
	w.reset()
	return b
}

// emitLocked appends the summaries of one batch as one pending value: the average, gradient and
// second derivative of kindSets[set], as selected by which, named by n.
func (e *Engine) emitLocked(b batch, set uint8, which [3]bool, n *ids) {
	if !b.hasFirst {
		return
	}
	// Every summary carries its window's end, which the wire writes only for the averages:
	// history stores the derivatives at that time too, not when it received them, so that a
	// replay applies a window's three summaries together, before the round that used them.
	p := pending{ids: n, vals: [3]float64{b.avg, b.grad, b.second}, ts: e.now, set: set}
	for i, v := range p.vals {
		if !which[i] || (i == 2 && !b.hasSD) {
			continue
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			e.st.unknown++ // finite inputs whose sum overflowed
			continue
		}
		p.mask |= 1 << i
	}
	if p.mask != 0 {
		e.out = append(e.out, p)
		e.st.summaries += uint64(p.count())
	}
}

var (
	all3    = [3]bool{true, true, true}
	avgOnly = [3]bool{true, false, false}
	derivs  = [3]bool{false, true, true}
)

// tickLocked ends the current window (or slide) of every key, appends the summaries to e.out and
// releases the keys that no longer need state: members that left (or never were in) the topology
// and sent nothing in the window, and cluster keys that received nothing.
func (e *Engine) tickLocked(now int64) {
	e.now = now
	// The buffer of the last window end was dropped once delivered: one allocation of its size,
	// not append's growth from what a fault scan left.
	e.out = slices.Grow(e.out, e.outHint)
	next := 0
	if e.sliding {
		next = (e.cur + 1) % e.buckets
	}
	// Backwards, so that a removal (the last member moves into its place) skips nobody.
	for i := len(e.all) - 1; i >= 0; i-- {
		ms := e.all[i]
		active := false
		for m := range ms.win {
			w := &ms.win[m]
			if w.empty(e.sliding) {
				continue
			}
			active = true
			e.emitLocked(e.endLocked(w, next), uint8(setMember+m), all3, ms.ids)
		}
		if !active && !ms.tracked {
			e.removeMemberLocked(ms)
		}
	}
	for k, ci := range e.cis {
		active := false
		for m := range ci.win {
			w := &ci.win[m]
			if w.empty(e.sliding) {
				continue
			}
			active = true
			which := all3
			if m == metricRIF {
				which = avgOnly // the in-flight derivatives are per key(np)
			}
			ci.ids = named(ci.ids, ids{cluster: ci.key.cluster, instance: ci.key.instance, np: ci.np})
			e.emitLocked(e.endLocked(w, next), uint8(setCluster+m), which, ci.ids)
		}
		if !active {
			ci.dead = true
			delete(e.cis, k)
		}
	}
	for k, np := range e.nps {
		if np.win.empty(e.sliding) {
			delete(e.nps, k)
			continue
		}
		np.ids = named(np.ids, ids{cluster: np.key.cluster, instance: np.instance, np: np.key.np})
		e.emitLocked(e.endLocked(&np.win, next), setCluster+metricRIF, derivs, np.ids)
	}
	e.cur = next
	e.outHint = len(e.out)
}
