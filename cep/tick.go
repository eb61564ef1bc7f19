package cep

import (
	"math"

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

// emitLocked appends the summaries of one batch: kinds[0] average (stamped now), kinds[1]
// gradient and kinds[2] second derivative, as selected by which.
func (e *Engine) emitLocked(b batch, kinds [3]model.SummaryKind, which [3]bool, tmpl model.Summary) {
	if !b.hasFirst {
		return
	}
	vals := [3]float64{b.avg, b.grad, b.second}
	for i, k := range kinds {
		if !which[i] || (i == 2 && !b.hasSD) {
			continue
		}
		if math.IsNaN(vals[i]) || math.IsInf(vals[i], 0) {
			e.st.unknown++ // finite inputs whose sum overflowed
			continue
		}
		e.out = append(e.out, tmpl)
		s := &e.out[len(e.out)-1]
		s.Kind = k
		s.Value = vals[i]
		// Every summary carries its window's end, which the wire writes only for the averages:
		// history stores the derivatives at that time too, not when it received them, so that a
		// replay applies a window's three summaries together, before the round that used them.
		s.Timestamp = e.now
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
			e.emitLocked(e.endLocked(w, next), memberKinds[m], all3, model.Summary{
				MemberID: ms.id, ClusterID: ms.ids.cluster, ClusterInstanceID: ms.ids.instance,
				NetworkPartitionID: ms.ids.np,
			})
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
			e.emitLocked(e.endLocked(w, next), clusterKinds[m], which, model.Summary{
				ClusterID: ci.key.cluster, ClusterInstanceID: ci.key.instance, NetworkPartitionID: ci.np,
			})
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
		e.emitLocked(e.endLocked(&np.win, next), clusterKinds[metricRIF], derivs, model.Summary{
			ClusterID: np.key.cluster, ClusterInstanceID: np.instance, NetworkPartitionID: np.key.np,
		})
	}
	e.cur = next
	e.st.summaries += uint64(len(e.out))
}
