package mock

import (
	"container/heap"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// Run answers lifecycle events and publishes health until ctx ends.
func (d *Driver) Run(ctx context.Context) error {
	for _, e := range []model.Event{model.MemberInitializedEvent{}, model.MemberStartedEvent{},
		model.MemberMaintenanceModeEvent{}, model.InstanceCleanupMemberEvent{}, model.InstanceCleanupClusterEvent{}} {
		topic := model.TopicOf(e)
		if err := d.opts.Bus.SubscribeEvents(ctx, topic, d.enqueue); err != nil {
			return fmt.Errorf("mock: subscribe %s: %w", topic, err)
		}
	}
	close(d.subscribed)
	defer d.stopped.Store(true)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { d.worker(ctx) })
	t := d.clock.NewTicker(d.opts.Resolution)
	defer t.Stop()
	d.publishDue(ctx, d.clock.Now())
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
			d.publishDue(ctx, d.clock.Now()) // not the tick's time: a tick may wait in the channel

		case <-d.kick:
			d.publishDue(ctx, d.clock.Now())
		}
	}
}

// publishDue publishes the samples of every instance whose health is due at now.
func (d *Driver) publishDue(ctx context.Context, now time.Time) {
	if d.opts.Publish == nil {
		return
	}
	d.mu.Lock()
	buf := d.buf[:0]
	ms := now.UnixMilli()
	// Only the instances that are due: a scan of every instance, at every tick and at every
	// start's kick, made a deployment of N mock members N² work (issue 17: 13 % of the CPU at
	// 50 000 members).
	for len(d.due) > 0 && !now.Before(d.due[0].next) {
		in := d.due[0]
		if in.gone { // terminated meanwhile (a flag: a map lookup per sample hashed the long instance id, 5 % of the steady CPU at 100 000 members)
			heap.Pop(&d.due)
			continue
		}
		if in.next = in.next.Add(d.opts.Interval); !now.Before(in.next) {
			in.next = now.Add(d.opts.Interval) // fell behind: no burst of catch-up samples
		}
		heap.Fix(&d.due, 0)
		at := &in.at.key
		ts := in.at.ts
		elapsed := now.Sub(ts.start)
		// memory_consumption, then load_average, then the in-flight count (§2.6, §8.1).
		for _, f := range [...]Factor{MemoryConsumption, LoadAverage, RequestsInFlight} {
			for i := range ts.patterns {
				p := &ts.patterns[i]
				if p.Factor != f {
					continue
				}
				v, ok := p.value(elapsed)
				if !ok {
					continue
				}
				s := model.HealthSample{ClusterID: at.ClusterID, ClusterInstanceID: at.ClusterInstanceID,
					NetworkPartitionID: at.NetworkPartitionID, Value: v, Timestamp: ms}
				switch f {
				case MemoryConsumption:
					s.MemberID, s.PartitionID, s.Metric = in.id, at.PartitionID, model.MetricMemoryConsumption
				case LoadAverage:
					s.MemberID, s.PartitionID, s.Metric = in.id, at.PartitionID, model.MetricLoadAverage
				default:
					s.Metric = model.MetricRequestsInFlight
				}
				buf = append(buf, s)
			}
		}
	}
	d.buf = buf
	d.mu.Unlock()
	for len(buf) > 0 {
		n := min(len(buf), d.opts.BatchSize)
		err := d.opts.Publish(ctx, buf[:n])
		d.batches.Add(1)
		if err != nil {
			if d.publishErrors.Add(1) == 1 && ctx.Err() == nil {
				d.log.Warn("cannot publish health statistics; further errors are only counted", "error", err)
			}
		} else {
			d.samples.Add(uint64(n))
		}
		buf = buf[n:]
	}
}

// enqueue hands an event to the worker; bus handlers never block.
func (d *Driver) enqueue(_ string, e model.Event) {
	if d.stopped.Load() {
		return
	}
	d.queueMu.Lock()
	d.queue = append(d.queue, e)
	d.queueMu.Unlock()
	select {
	case d.queueSignal <- struct{}{}:
	default:
	}
}

func (d *Driver) worker(ctx context.Context) {
	var batch, out []model.Event
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.queueSignal:
		}
		d.queueMu.Lock()
		batch, d.queue = d.queue, batch[:0]
		d.queueMu.Unlock()
		out = out[:0]
		d.mu.Lock()
		for i, e := range batch {
			out = d.answerLocked(e, out)
			batch[i] = nil
		}
		d.mu.Unlock()
		for i, e := range out {
			if err := d.opts.Bus.PublishEvent(ctx, e); err != nil {
				if d.publishErrors.Add(1) == 1 && ctx.Err() == nil {
					d.log.Warn("cannot publish an instance event; further errors are only counted", "error", err)
				}
				continue
			}
			d.events.Add(1)
			out[i] = nil
		}
	}
}

// answerLocked appends what the instances answer to one event.
func (d *Driver) answerLocked(e model.Event, out []model.Event) []model.Event {
	switch ev := e.(type) {
	case *model.MemberInitializedEvent:
		if in := d.instances[ev.MemberID]; in != nil && !in.started {
			in.started = true
			at := &in.at.key
			out = append(out, &model.InstanceStartedEvent{ApplicationID: at.ApplicationID, ServiceName: at.ServiceName,
				ClusterID: at.ClusterID, MemberID: in.id, ClusterInstanceID: at.ClusterInstanceID,
				NetworkPartitionID: at.NetworkPartitionID, PartitionID: at.PartitionID})
		}
	case *model.MemberStartedEvent:
		if in := d.instances[ev.MemberID]; in != nil && !in.activated {
			in.activated = true
			at := &in.at.key
			out = append(out, &model.InstanceActivatedEvent{ServiceName: at.ServiceName, ClusterID: at.ClusterID,
				MemberID: in.id, InstanceID: in.id, ClusterInstanceID: at.ClusterInstanceID,
				NetworkPartitionID: at.NetworkPartitionID, PartitionID: at.PartitionID})
		}
	case *model.InstanceCleanupMemberEvent:
		if in := d.instances[ev.MemberID]; in != nil {
			out = in.maintenance(out)
		}
	case *model.InstanceCleanupClusterEvent:
		// In the order of the instances' ids, which the controller then terminates them in: the
		// members and the instances leave the state in the order of its keys, each transaction
		// rewriting a few pages instead of a page per key.
		var ins []*instance
		for _, in := range d.instances {
			if in.at.key.ClusterID == ev.ClusterID && in.at.key.ClusterInstanceID == ev.ClusterInstanceID {
				ins = append(ins, in)
			}
		}
		slices.SortFunc(ins, func(a, b *instance) int { return strings.Compare(a.id, b.id) })
		for _, in := range ins {
			out = in.maintenance(out)
		}
	case *model.MemberMaintenanceModeEvent:
		if in := d.instances[ev.MemberID]; in != nil && !in.shutdown {
			in.shutdown = true
			e := model.InstanceReadyToShutdownEvent(in.maintenanceEvent())
			out = append(out, &e)
		}
	}
	return out
}

func (in *instance) maintenance(out []model.Event) []model.Event {
	if in.shutdown {
		return out
	}
	e := in.maintenanceEvent()
	return append(out, &e)
}

func (in *instance) maintenanceEvent() model.InstanceMaintenanceModeEvent {
	at := &in.at.key
	return model.InstanceMaintenanceModeEvent{ServiceName: at.ServiceName, ClusterID: at.ClusterID, MemberID: in.id,
		ClusterInstanceID: at.ClusterInstanceID, NetworkPartitionID: at.NetworkPartitionID, PartitionID: at.PartitionID}
}

// scheduleLocked adds a new instance to the health schedule. Without Publish there is no
// schedule: nothing would take the instances out again.
func (d *Driver) scheduleLocked(in *instance) {
	if d.opts.Publish != nil {
		heap.Push(&d.due, in)
	}
}

// dueHeap orders instances by their next health publication. A terminated instance stays until
// it is due, then publishDue drops it.
type dueHeap []*instance

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].next.Before(h[j].next) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(*instance)) }
func (h *dueHeap) Pop() any {
	old := *h
	in := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return in
}
