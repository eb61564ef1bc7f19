package autoscaler

import (
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// The CEP summaries: each is routed to its instance's metric family or member, and an instance
// whose families became fresh is made due.

// HandleSummary takes one CEP summary (the in-process cep.Engine.Subscribe callback, or decoded
// from summarized-health-stats). It only records the value; when a metric family becomes fresh
// (average, gradient and second derivative all received, §4.2) the instance is evaluated Settle
// later. It does not allocate.
func (a *Autoscaler) HandleSummary(s model.Summary) {
	a.stats.summaries.Add(1)
	now := a.clock.Now()
	a.mu.Lock()
	woke := a.summaryLocked(&s, now)
	a.mu.Unlock()
	if woke {
		a.signal()
	}
}

// summaryLocked routes a summary (§4.2) and reports whether an instance became due.
func (a *Autoscaler) summaryLocked(s *model.Summary, now time.Time) bool {
	if s.Kind.MemberLevel() {
		m := a.members[s.MemberID]
		if m == nil {
			a.stats.unrouted.Add(1)
			return false
		}
		switch s.Kind {
		case model.MemberFault:
			return a.faultLocked(m, now)
		case model.MemberAverageLoadAverage:
			m.la.avg = s.Value
		case model.MemberGradientOfLoadAverage:
			m.la.grad = s.Value
		case model.MemberSecondDerivativeOfLoadAverage:
			m.la.sd = s.Value
		case model.MemberAverageMemoryConsumption:
			m.mc.avg = s.Value
		case model.MemberGradientOfMemoryConsumption:
			m.mc.grad = s.Value
		case model.MemberSecondDerivativeOfMemoryConsumption:
			// Stratos' listener for this event is empty: the member's memory sd stays 0.
		}
		return false
	}
	var f, comp int
	switch s.Kind {
	case model.AverageRequestsInFlight:
		f, comp = familyRIF, componentAvg
	case model.GradientOfRequestsInFlight:
		f, comp = familyRIF, componentGrad
	case model.SecondDerivativeOfRequestsInFlight:
		f, comp = familyRIF, componentSD
	case model.AverageMemoryConsumption:
		f, comp = familyMC, componentAvg
	case model.GradientOfMemoryConsumption:
		f, comp = familyMC, componentGrad
	case model.SecondDerivativeOfMemoryConsumption:
		f, comp = familyMC, componentSD
	case model.AverageLoadAverage:
		f, comp = familyLA, componentAvg
	case model.GradientOfLoadAverage:
		f, comp = familyLA, componentGrad
	case model.SecondDerivativeOfLoadAverage:
		f, comp = familyLA, componentSD
	default:
		return false
	}
	c := a.clusters[s.ClusterID]
	if c == nil {
		a.stats.unrouted.Add(1)
		return false
	}
	if s.ClusterInstanceID == notDefinedInstance && f == familyRIF {
		// From a load balancer that does not know the instance: spread the value over the
		// instances of the network partition by their active members (§4.2).
		total := 0
		for _, in := range c.instances {
			if in.np == s.NetworkPartitionID {
				total += in.count(listActive)
			}
		}
		woke := false
		for _, in := range c.instances {
			if in.np != s.NetworkPartitionID {
				continue
			}
			v := 0.0
			if total > 0 {
				v = s.Value * float64(in.count(listActive)) / float64(total)
			}
			woke = a.setComponent(in, f, comp, v, now) || woke
		}
		return woke
	}
	in := c.instances[s.ClusterInstanceID]
	if in == nil {
		a.stats.unrouted.Add(1)
		return false
	}
	return a.setComponent(in, f, comp, s.Value, now)
}

func (a *Autoscaler) setComponent(in *instance, f, comp int, v float64, now time.Time) bool {
	fm := &in.fam[f]
	switch comp {
	case componentAvg:
		fm.avg = v
	case componentGrad:
		fm.grad = v
	case componentSD:
		fm.sd = v
	}
	fm.last = now
	fm.fresh |= uint8(comp)
	if fm.fresh != allComponents {
		return false
	}
	fm.fresh = 0
	fm.reset = true
	a.queue.schedule(in, now.Add(a.opts.Settle))
	if in.trigger == "" || in.trigger == triggerTick {
		in.trigger = triggerMetrics
	}
	return true
}
