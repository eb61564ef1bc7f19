package cep

// scanLocked raises a fault for every tracked member silent for longer than the timeout. The
// engine's time is coarse (refreshed once per scan), so a member's last event may be up to one
// interval later than its lastSeen: the check adds one interval so that no fault comes early.
func (e *Engine) scanLocked(now int64) {
	e.now = now
	if now < e.graceEnd {
		return
	}
	limit := e.opt.FaultTimeout.Milliseconds() + e.opt.FaultCheckInterval.Milliseconds()
	for _, ms := range e.watched {
		if !ms.faulted && now-ms.lastSeen > limit {
			ms.faulted = true
			e.st.faults++
			e.out = append(e.out, faultPending(ms.ids))
		}
	}
}

// MemberActivated starts watching a member for silence, as Stratos does on MemberActivatedEvent:
// if it is already watched, its last-seen time is kept.
func (e *Engine) MemberActivated(m Member) {
	now := e.opt.Clock.Now().UnixMilli()
	e.mu.Lock()
	e.activateLocked(m, now)
	e.mu.Unlock()
}

func (e *Engine) activateLocked(m Member, now int64) {
	ms := e.members[m.MemberID]
	if ms == nil {
		ms = e.newMemberLocked(m.MemberID)
	}
	ms.ids = named(ms.ids, ids{ms.id, intern(m.ClusterID), intern(m.ClusterInstanceID), intern(m.NetworkPartitionID), intern(m.PartitionID)})
	if !ms.tracked {
		ms.tracked = true
		ms.watchIdx = len(e.watched)
		e.watched = append(e.watched, ms)
		ms.faulted = false
		ms.lastSeen = now
	}
}

// newMemberLocked adds the state of a member not known yet.
func (e *Engine) newMemberLocked(id string) *memberState {
	ms := &memberState{id: intern(id), allIdx: len(e.all)}
	e.members[ms.id] = ms
	e.all = append(e.all, ms)
	return ms
}

// removeMemberLocked forgets a member's state.
func (e *Engine) removeMemberLocked(ms *memberState) {
	delete(e.members, ms.id)
	if e.lastMember == ms {
		e.lastMember = nil
	}
	e.all = swapRemove(e.all, ms, func(m *memberState) *int { return &m.allIdx })
}

// dropLocked releases a member's state and stops watching it.
func (e *Engine) dropLocked(ms *memberState) {
	e.removeMemberLocked(ms)
	if ms.tracked {
		e.watched = swapRemove(e.watched, ms, func(m *memberState) *int { return &m.watchIdx })
		ms.tracked = false
	}
}

// swapRemove takes ms out of s, whose members know their position through idx: the last one
// takes its place.
func swapRemove(s []*memberState, ms *memberState, idx func(*memberState) *int) []*memberState {
	i, last := *idx(ms), s[len(s)-1]
	s[i], *idx(last) = last, i
	s[len(s)-1] = nil
	return s[:len(s)-1]
}

// MemberTerminated stops watching a member and releases its state.
func (e *Engine) MemberTerminated(memberID string) {
	e.mu.Lock()
	if ms := e.members[memberID]; ms != nil {
		e.dropLocked(ms)
	}
	e.mu.Unlock()
}

// ClusterRemoved releases the state of a cluster: its members and its cluster keys.
func (e *Engine) ClusterRemoved(clusterID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ms := range e.members {
		if ms.ids.cluster == clusterID {
			e.dropLocked(ms)
		}
	}
	for k, ci := range e.cis {
		if k.cluster == clusterID {
			ci.dead = true
			delete(e.cis, k)
		}
	}
	for k := range e.nps {
		if k.cluster == clusterID {
			delete(e.nps, k)
		}
	}
}

// SeedTopology reconciles the watched members with a complete topology that lists every member
// present. Active members not watched yet are watched from now on (Stratos seeds them with now);
// watched members keep their last-seen time; watched members missing from the topology are
// released (their MemberTerminatedEvent was missed).
func (e *Engine) SeedTopology(members []Member) {
	now := e.opt.Clock.Now().UnixMilli()
	present := make(map[string]struct{}, len(members))
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, m := range members {
		present[m.MemberID] = struct{}{}
		if m.Active {
			e.activateLocked(m, now)
		}
	}
	for id, ms := range e.members {
		if _, ok := present[id]; !ok && ms.tracked {
			e.dropLocked(ms)
		}
	}
}

// deliverFaults delivers the ports_not_open faults that ingest queued.
func (e *Engine) deliverFaults() {
	e.mu.Lock()
	e.out = append(e.out, e.faults...)
	clear(e.faults)
	e.faults = e.faults[:0]
	e.mu.Unlock()
	e.deliver()
}
