package autoscaler

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// publishTimeout bounds one publish when the bus's outbox is full.
const publishTimeout = 5 * time.Second

// execute carries out what a round decided, without the lock: start and terminate calls to the
// controller, events on the bus, decisions to the recorder. A started member joins its
// partition's pending list when the controller answers (or earlier, from MemberCreatedEvent).
// Consecutive starts run up to Options.StartParallelism at a time; any other action waits until
// the starts before it were answered, so the order between kinds of actions is kept.
func (a *Autoscaler) execute(ctx context.Context, work []action, decs []decisionOut) {
	// Failures are counted and logged once a round, not once a member: a controller that is
	// down would otherwise log a line per cluster instance.
	var termErrs int
	var lastTerm error
	st := starts{a: a, sem: make(chan struct{}, max(a.opts.StartParallelism, 1))}
	defer func() {
		if st.errs > 0 {
			a.log.Warn("start member", "failures", st.errs, "err", st.last)
		}
		if termErrs > 0 {
			a.log.Warn("terminate member", "failures", termErrs, "err", lastTerm)
		}
	}()
	for i := range work {
		w := &work[i]
		if ctx.Err() != nil {
			st.wg.Wait()
			return // shutdown: what the round decided is decided again after a restart
		}
		if w.kind != actStart {
			st.wg.Wait()
		}
		switch w.kind {
		case actStart:
			// A cluster removed since the round decided (an undeploy) gets no further member.
			a.mu.Lock()
			removed := w.in.c.instances[w.in.id] != w.in
			a.mu.Unlock()
			if removed {
				a.stats.startsCancelled.Add(1)
				continue
			}
			a.stats.actions.Add(1)
			st.start(ctx, w)
		case actTerminate:
			a.stats.actions.Add(1)
			if err := a.opts.Starter.TerminateMember(ctx, w.memberID, w.forced); err != nil {
				a.stats.terminateErrors.Add(1)
				termErrs++
				lastTerm = fmt.Errorf("member %s (forced %t): %w", w.memberID, w.forced, err)
				a.mu.Lock()
				if m := a.members[w.memberID]; m != nil {
					m.asked = time.Time{} // the next round tries again
				}
				a.mu.Unlock()
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
	st.wg.Wait()
	failed := st.failed
	if len(failed) > 0 {
		a.addStartErrors(failed, decs)
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

// starts runs a round's StartMember calls, at most cap(sem) at a time, and collects their
// failures.
type starts struct {
	a   *Autoscaler
	sem chan struct{}
	wg  sync.WaitGroup

	mu     sync.Mutex // guards the fields below
	errs   int
	last   error
	failed []failedStart
}

// start calls StartMember for w, on its own goroutine when the round may run starts in
// parallel; it waits for a free slot first, and returns once the starter has recorded the
// member (StartRequest.Recorded) or answered.
func (s *starts) start(ctx context.Context, w *action) {
	s.sem <- struct{}{}
	if cap(s.sem) == 1 {
		s.do(ctx, w)
		<-s.sem
		return
	}
	recorded := make(chan struct{})
	var once sync.Once
	w.req.Recorded = func() { once.Do(func() { close(recorded) }) }
	s.wg.Go(func() {
		defer func() { <-s.sem }()
		defer w.req.Recorded()
		s.do(ctx, w)
	})
	<-recorded
}

func (s *starts) do(ctx context.Context, w *action) {
	a := s.a
	m, err := a.opts.Starter.StartMember(ctx, w.req)
	now := a.clock.Now()
	a.mu.Lock()
	a.startedLocked(w, m, err, now)
	a.mu.Unlock()
	if err == nil {
		return
	}
	a.stats.startErrors.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs++
	s.last = fmt.Errorf("cluster %s instance %s partition %s: %w", w.req.ClusterID, w.req.ClusterInstanceID, w.req.PartitionID, err)
	if w.decision != "" {
		s.failed = append(s.failed, failedStart{in: w.in, decision: w.decision, partition: w.req.PartitionID, err: err.Error()})
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
	a.joinLocked(&in.parts[pi], mm)
	a.members[m.MemberID] = mm
}

// failedStart is a start the controller answered with an error.
type failedStart struct {
	in        *instance
	decision  string
	partition string
	err       string
}

// addStartErrors adds the failed starts to the decisions that took them, in the instance's ring
// (Decisions) and in decs (the recorder: `strata explain`), so that a decision does not claim a
// start that never happened: its reason says the start failed and why, and its trace lists the
// errors (Trace.StartErrors).
func (a *Autoscaler) addStartErrors(failed []failedStart, decs []decisionOut) {
	type key struct{ decision, partition, err string }
	var order []key
	count := map[key]int{}
	byDecision := map[string][]StartError{}
	for _, f := range failed {
		k := key{f.decision, f.partition, f.err}
		if count[k] == 0 {
			order = append(order, k)
		}
		count[k]++
	}
	for _, k := range order {
		byDecision[k.decision] = append(byDecision[k.decision], StartError{Partition: k.partition, Error: k.err, Count: count[k]})
	}
	patch := func(d *model.Decision) {
		errs, ok := byDecision[d.ID]
		if !ok {
			return
		}
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error
		}
		d.Reason += "; start failed: " + strings.Join(msgs, "; ")
		d.Trace = withStartErrors(d.Trace, errs)
	}
	for i := range decs {
		patch(&decs[i].d)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	done := map[*instance]bool{}
	for _, f := range failed {
		if done[f.in] {
			continue
		}
		done[f.in] = true
		for i := range f.in.ring {
			patch(&f.in.ring[i])
		}
	}
}

// withStartErrors returns a copy of a recorded trace (shared, so never changed in place) with
// startErrors added.
func withStartErrors(trace json.RawMessage, errs []StartError) json.RawMessage {
	add, err := json.Marshal(errs)
	if err != nil || len(trace) < 2 || trace[len(trace)-1] != '}' {
		return trace
	}
	out := make(json.RawMessage, 0, len(trace)+len(add)+16)
	out = append(out, trace[:len(trace)-1]...)
	if len(trace) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"startErrors":`...)
	out = append(out, add...)
	return append(out, '}')
}
