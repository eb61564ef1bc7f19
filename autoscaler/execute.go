package autoscaler

import (
	"context"
	"encoding/json"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// publishTimeout bounds one publish when the bus's outbox is full.
const publishTimeout = 5 * time.Second

// execute carries out what a round decided, without the lock: start and terminate calls to the
// controller, events on the bus, decisions to the recorder. A started member joins its
// partition's pending list when the controller answers (or earlier, from MemberCreatedEvent).
func (a *Autoscaler) execute(ctx context.Context, work []action, decs []decisionOut) {
	for i := range work {
		w := &work[i]
		switch w.kind {
		case actStart:
			a.stats.actions.Add(1)
			m, err := a.opts.Starter.StartMember(ctx, w.req)
			now := a.clock.Now()
			a.mu.Lock()
			a.startedLocked(w, m, err, now)
			a.mu.Unlock()
			if err != nil {
				a.stats.startErrors.Add(1)
				a.log.Warn("start member", "cluster_id", w.req.ClusterID, "cluster_instance_id", w.req.ClusterInstanceID,
					"partition_id", w.req.PartitionID, "err", err)
			}
		case actTerminate:
			a.stats.actions.Add(1)
			if err := a.opts.Starter.TerminateMember(ctx, w.memberID, w.forced); err != nil {
				a.stats.terminateErrors.Add(1)
				a.log.Warn("terminate member", "member_id", w.memberID, "forced", w.forced, "err", err)
			}
		case actPublish:
			if a.opts.Bus == nil {
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, publishTimeout)
			if err := a.opts.Bus.PublishEvent(pctx, w.event); err != nil {
				a.stats.publishErrors.Add(1)
			}
			cancel()
		}
	}
	for i := range decs {
		d := &decs[i].d
		if r := a.opts.Recorder; r != nil && !r.RecordDecision(*d) {
			a.stats.dropped.Add(1)
		}
		if a.opts.Bus != nil && a.opts.PublishDecisions {
			body, err := json.Marshal(d)
			if err == nil {
				pctx, cancel := context.WithTimeout(ctx, publishTimeout)
				err = a.opts.Bus.Publish(pctx, DecisionTopic, body, 0)
				cancel()
			}
			if err != nil {
				a.stats.publishErrors.Add(1)
			}
		}
	}
}

// startedLocked records the controller's answer to a start: the in-flight count goes down and
// the member becomes pending (Stratos adds it to the pending list with a fresh stats context).
func (a *Autoscaler) startedLocked(w *action, m model.Member, err error, now time.Time) {
	in := w.in
	if in.c.instances[in.id] != in { // removed meanwhile
		return
	}
	pi := -1
	for i := range in.parts {
		if in.parts[i].id == w.partID {
			pi = i
		}
	}
	if pi >= 0 && in.parts[pi].starting > 0 {
		in.parts[pi].starting--
	}
	if err != nil || m.MemberID == "" || pi < 0 {
		return
	}
	if _, known := a.members[m.MemberID]; known {
		return // MemberCreatedEvent came first
	}
	mm := &member{id: m.MemberID, in: in, part: pi, list: listPending, since: now, hasStats: true}
	if m.Status() == model.MemberActive {
		mm.list = listActive
	}
	in.parts[pi].lists[mm.list] = append(in.parts[pi].lists[mm.list], mm)
	a.members[m.MemberID] = mm
}
