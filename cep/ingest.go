package cep

import (
	"math"
	"unique"

	"github.com/strata-paas/strata/internal/model"
)

// intern returns the canonical copy of s, so that the ids kept by many keys share memory and do
// not pin the buffers they were decoded from.
func intern(s string) string { return unique.Make(s).Value() }

// Ingest processes one raw health sample: a cartridge_agent_health_stats event or, when Metric is
// model.MetricRequestsInFlight, an in_flight_requests event. It never blocks on the consumers.
func (e *Engine) Ingest(s model.HealthSample) {
	e.mu.Lock()
	e.ingestLocked(&s)
	e.mu.Unlock()
}

// IngestBatch processes a batch of raw health samples under one lock, as HandleEvents does with
// a data-bridge bundle: the mock IaaS of `strata up` publishes its members' health this way, in
// process. The engine keeps nothing that points into samples, so the caller may reuse it.
func (e *Engine) IngestBatch(samples []model.HealthSample) {
	e.mu.Lock()
	for i := range samples {
		e.ingestLocked(&samples[i])
	}
	e.mu.Unlock()
}

// ingestLocked is the hot path: no allocation once the keys exist and their buffers have grown.
func (e *Engine) ingestLocked(s *model.HealthSample) {
	if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
		e.st.unknown++ // would poison every window it enters
		return
	}
	if e.opt.Recorder != nil {
		if len(e.raw) < e.opt.HistoryBuffer {
			e.raw = append(e.raw, *s)
			if len(e.raw) == 1 {
				select {
				case e.rawWake <- struct{}{}:
				default:
				}
			}
		} else {
			e.rawShed++
		}
	}
	var m int
	switch s.Metric {
	case model.MetricLoadAverage:
		m = metricLoad
	case model.MetricMemoryConsumption:
		m = metricMemory
	case model.MetricRequestsInFlight:
		e.st.ingested++
		e.inFlightLocked(s)
		return
	case model.MetricPortsNotOpen:
		e.st.ingested++
		e.touchLocked(s)
		if len(e.faults) >= maxPendingFaults {
			e.st.faultsShed++ // Run is not draining: do not grow without bound
			return
		}
		e.st.faults++
		e.faults = append(e.faults, faultPending(&ids{s.MemberID, s.ClusterID, s.ClusterInstanceID, s.NetworkPartitionID, s.PartitionID}))
		select {
		case e.wake <- struct{}{}:
		default:
		}
		return
	default:
		e.st.unknown++
		return
	}
	e.st.ingested++
	ms := e.touchLocked(s)
	w := &ms.win[m]
	if w.empty(e.sliding) {
		ms.ids = named(ms.ids, ids{ms.id, s.ClusterID, s.ClusterInstanceID, s.NetworkPartitionID, s.PartitionID})
	}
	e.addLocked(w, s)

	ci := ms.ci
	if ci == nil || ci.dead || ci.key.cluster != s.ClusterID || ci.key.instance != s.ClusterInstanceID {
		ci = e.ciLocked(s)
		ms.ci = ci
	}
	w = &ci.win[m]
	if w.empty(e.sliding) {
		ci.np = s.NetworkPartitionID
	}
	e.addLocked(w, s)
}

func (e *Engine) addLocked(w *window, s *model.HealthSample) {
	var overflow bool
	if e.sliding {
		overflow = w.slideAdd(s.Value, s.Timestamp, e.limit, e.buckets, e.cur)
	} else {
		overflow = w.add(s.Value, s.Timestamp, e.limit)
	}
	if overflow {
		e.st.overflow++
	}
}

// touchLocked finds or creates the member of a health event and records that it was seen.
// An agent publishes its statistics together, so the member of the previous event is tried first.
func (e *Engine) touchLocked(s *model.HealthSample) *memberState {
	ms := e.lastMember
	if ms == nil || ms.id != s.MemberID {
		if ms = e.members[s.MemberID]; ms == nil {
			ms = e.newMemberLocked(s.MemberID)
			ms.ids = named(nil, ids{ms.id, intern(s.ClusterID), intern(s.ClusterInstanceID), intern(s.NetworkPartitionID), intern(s.PartitionID)})
		}
		e.lastMember = ms
	}
	if ms.tracked {
		ms.lastSeen = e.now
		ms.faulted = false
	}
	return ms
}

func (e *Engine) ciLocked(s *model.HealthSample) *ciState {
	ci := e.cis[ciKey{s.ClusterID, s.ClusterInstanceID}]
	if ci == nil {
		ci = &ciState{key: ciKey{intern(s.ClusterID), intern(s.ClusterInstanceID)}, np: intern(s.NetworkPartitionID)}
		e.cis[ci.key] = ci
	}
	return ci
}

// inFlightLocked feeds the in_flight_requests plans: the average per key(ci), the gradient and
// second derivative per key(np) (§3.2).
func (e *Engine) inFlightLocked(s *model.HealthSample) {
	ci := e.ciLocked(s)
	w := &ci.win[metricRIF]
	if w.empty(e.sliding) {
		ci.np = s.NetworkPartitionID
	}
	e.addLocked(w, s)

	np := e.nps[npKey{s.ClusterID, s.NetworkPartitionID}]
	if np == nil {
		np = &npState{key: npKey{intern(s.ClusterID), intern(s.NetworkPartitionID)}, instance: intern(s.ClusterInstanceID)}
		e.nps[np.key] = np
	}
	if np.win.empty(e.sliding) {
		np.instance = s.ClusterInstanceID
	}
	e.addLocked(&np.win, s)
}
