package autoscaler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/model"
)

// The replay's inputs: the recorded history read back (LoadReplayHistory), the cluster spec it
// completes, and the summaries and lifecycle records as the autoscaler's inputs in time order.

// replayInput is a summary or a topology event, at the time it is replayed.
type replayInput struct {
	at  time.Time
	ev  model.Event
	sum *model.Summary
}

// replayInputs are the history's inputs for the instance in time order: lifecycle records first
// at equal times, as the controller's events precede the load they cause.
func replayInputs(h ReplayHistory, spec ClusterSpec, o ReplayOptions, st *replayStarter, victims []*replayVictim) []replayInput {
	var ins []replayInput
	for _, r := range h.Lifecycle {
		if r.ClusterID != spec.ClusterID || (!o.To.IsZero() && !r.Time.Before(o.To)) {
			continue
		}
		if ev := eventOfRecord(r); ev != nil {
			ins = append(ins, replayInput{at: r.Time, ev: ev})
		}
	}
	for i := range h.Summaries {
		s := &h.Summaries[i]
		at := time.UnixMilli(s.Timestamp).UTC()
		if s.ClusterID != spec.ClusterID || at.Before(o.From) || (!o.To.IsZero() && !at.Before(o.To)) {
			continue
		}
		if s.ClusterInstanceID != "" && s.ClusterInstanceID != spec.InstanceID && s.ClusterInstanceID != model.NotDefined {
			continue
		}
		ins = append(ins, replayInput{at: at, sum: s})
	}
	// Records that follow a recorded decision by less than MatchTolerance are held back until
	// MatchTolerance after it: the replayed round is stamped from stored summaries, a few
	// milliseconds after the live one, and must see the cluster as the live round did. These are
	// the records of a member the controller created for a recorded start (the round must not see
	// the member it is about to start as already there) and those of a recorded scale-down's
	// victim (the round must still find the victim active).
	type span struct{ from, until time.Time }
	held := map[string][]span{}
	for _, a := range st.attempts {
		for _, c := range st.claims {
			if !c.at.Before(a.at) && c.at.Sub(a.at) <= o.MatchTolerance {
				held[c.id] = append(held[c.id], span{a.at, a.at.Add(o.MatchTolerance)})
			}
		}
	}
	for _, v := range victims {
		held[v.id] = append(held[v.id], span{v.at, v.at.Add(o.MatchTolerance)})
	}
	for i := range ins {
		if ins[i].ev == nil {
			continue
		}
		for _, sp := range held[memberOf(ins[i].ev)] {
			if !ins[i].at.Before(sp.from) && ins[i].at.Before(sp.until) {
				ins[i].at = sp.until
			}
		}
	}
	slices.SortStableFunc(ins, func(x, y replayInput) int {
		if c := x.at.Compare(y.at); c != 0 {
			return c
		}
		return cmp.Compare(boolInt(x.ev == nil), boolInt(y.ev == nil))
	})

	return ins
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// replaySpec completes the cluster spec from the first recorded decision and the lifecycle
// records, and returns the recorded policy.
func replaySpec(spec ClusterSpec, recorded []model.Decision, life []model.LifecycleRecord) (ClusterSpec, string, error) {
	recPolicy := ""
	for _, d := range recorded {
		if spec.InstanceID != "" && d.ClusterInstanceID != spec.InstanceID {
			continue
		}
		t, err := DecodeTrace(d)
		if err != nil {
			return spec, "", err
		}
		recPolicy = d.Policy
		spec.InstanceID = cmp.Or(spec.InstanceID, d.ClusterInstanceID)
		spec.NetworkPartition = cmp.Or(spec.NetworkPartition, d.NetworkPartitionID)
		spec.DeploymentPolicy = cmp.Or(spec.DeploymentPolicy, t.Deployment)
		if spec.Min == 0 && spec.Max == 0 {
			spec.Min, spec.Max = t.Members.Min, t.Members.Max
		}
		break
	}
	for _, r := range life {
		if r.ClusterID != spec.ClusterID {
			continue
		}
		spec.ServiceName = cmp.Or(spec.ServiceName, r.ServiceName)
		spec.ApplicationID = cmp.Or(spec.ApplicationID, r.ApplicationID)
		if r.Entity == "member" {
			spec.InstanceID = cmp.Or(spec.InstanceID, r.ClusterInstanceID)
			spec.NetworkPartition = cmp.Or(spec.NetworkPartition, r.NetworkPartitionID)
		}
	}
	var errs []error
	if spec.InstanceID == "" || spec.NetworkPartition == "" {
		errs = append(errs, fmt.Errorf("%w: replay %s: no recorded decision or member names the cluster instance and network partition", ErrInvalid, spec.ClusterID))
	}
	if spec.DeploymentPolicy == "" {
		errs = append(errs, fmt.Errorf("%w: replay %s: no recorded decision names the deployment policy", ErrInvalid, spec.ClusterID))
	}
	if spec.Max == 0 && spec.Min == 0 {
		errs = append(errs, fmt.Errorf("%w: replay %s: no recorded decision gives min and max", ErrInvalid, spec.ClusterID))
	}
	spec.AutoscalePolicy = cmp.Or(spec.AutoscalePolicy, recPolicy)
	return spec, recPolicy, errors.Join(errs...)
}

// eventOfRecord turns a lifecycle record back into the topology event the autoscaler handles, or
// nil for records it does not act on.
func eventOfRecord(r model.LifecycleRecord) model.Event {
	switch r.Event {
	case (&model.MemberCreatedEvent{}).EventClass():
		return &model.MemberCreatedEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, ClusterInstanceID: r.ClusterInstanceID,
			NetworkPartitionID: r.NetworkPartitionID, PartitionID: r.PartitionID, MemberID: r.MemberID}
	case (&model.MemberInitializedEvent{}).EventClass():
		return &model.MemberInitializedEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, ClusterInstanceID: r.ClusterInstanceID,
			NetworkPartitionID: r.NetworkPartitionID, PartitionID: r.PartitionID, MemberID: r.MemberID}
	case (&model.MemberStartedEvent{}).EventClass():
		return &model.MemberStartedEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, ClusterInstanceID: r.ClusterInstanceID,
			NetworkPartitionID: r.NetworkPartitionID, PartitionID: r.PartitionID, MemberID: r.MemberID}
	case (&model.MemberActivatedEvent{}).EventClass():
		return &model.MemberActivatedEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, ClusterInstanceID: r.ClusterInstanceID,
			NetworkPartitionID: r.NetworkPartitionID, PartitionID: r.PartitionID, MemberID: r.MemberID, ApplicationID: r.ApplicationID}
	case (&model.MemberMaintenanceModeEvent{}).EventClass():
		return &model.MemberMaintenanceModeEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, ClusterInstanceID: r.ClusterInstanceID,
			NetworkPartitionID: r.NetworkPartitionID, PartitionID: r.PartitionID, MemberID: r.MemberID}
	case (&model.MemberReadyToShutdownEvent{}).EventClass():
		return &model.MemberReadyToShutdownEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, ClusterInstanceID: r.ClusterInstanceID,
			NetworkPartitionID: r.NetworkPartitionID, PartitionID: r.PartitionID, MemberID: r.MemberID}
	case (&model.MemberTerminatedEvent{}).EventClass():
		return &model.MemberTerminatedEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, ClusterInstanceID: r.ClusterInstanceID,
			NetworkPartitionID: r.NetworkPartitionID, PartitionID: r.PartitionID, MemberID: r.MemberID}
	case (&model.ClusterInstanceActivatedEvent{}).EventClass():
		return &model.ClusterInstanceActivatedEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, AppID: r.ApplicationID, InstanceID: r.ClusterInstanceID}
	case (&model.ClusterInstanceInactivateEvent{}).EventClass():
		return &model.ClusterInstanceInactivateEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, AppID: r.ApplicationID, InstanceID: r.ClusterInstanceID}
	case (&model.ClusterInstanceTerminatingEvent{}).EventClass():
		return &model.ClusterInstanceTerminatingEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, AppID: r.ApplicationID, InstanceID: r.ClusterInstanceID}
	case (&model.ClusterResetEvent{}).EventClass():
		return &model.ClusterResetEvent{ServiceName: r.ServiceName, ClusterID: r.ClusterID, AppID: r.ApplicationID, InstanceID: r.ClusterInstanceID}
	}
	return nil
}

// memberOf is the member id of a member event, or "".
func memberOf(e model.Event) string {
	switch ev := e.(type) {
	case *model.MemberCreatedEvent:
		return ev.MemberID
	case *model.MemberInitializedEvent:
		return ev.MemberID
	case *model.MemberStartedEvent:
		return ev.MemberID
	case *model.MemberActivatedEvent:
		return ev.MemberID
	case *model.MemberMaintenanceModeEvent:
		return ev.MemberID
	case *model.MemberReadyToShutdownEvent:
		return ev.MemberID
	case *model.MemberTerminatedEvent:
		return ev.MemberID
	}
	return ""
}

// replayClaim is a member the controller really created: its first record.
type replayClaim struct {
	at        time.Time
	partition string
	id        string
	taken     bool
}

func replayClaims(life []model.LifecycleRecord, spec ClusterSpec) []*replayClaim {
	seen := map[string]bool{}
	var out []*replayClaim
	for _, r := range life {
		if r.Entity != "member" || r.MemberID == "" || r.ClusterID != spec.ClusterID ||
			(r.ClusterInstanceID != "" && r.ClusterInstanceID != spec.InstanceID) || seen[r.MemberID] {
			continue
		}
		seen[r.MemberID] = true
		out = append(out, &replayClaim{at: r.Time, partition: r.PartitionID, id: r.MemberID})
	}
	slices.SortStableFunc(out, func(a, b *replayClaim) int { return a.at.Compare(b.at) })
	return out
}

// replaySource is what LoadReplayHistory reads: history.Memory, history.ClickHouse and the REST
// API's client (manager/client) have it.
type replaySource interface {
	Summaries(ctx context.Context, q history.SummaryQuery) ([]history.Point, error)
	Lifecycle(ctx context.Context, q history.LifecycleQuery) ([]model.LifecycleRecord, error)
	Decisions(ctx context.Context, q history.DecisionQuery) ([]model.Decision, error)
}

// LoadReplayHistory reads what Replay needs of one cluster from history: its summaries and
// decisions in [from, to) (zero to: up to now), and its lifecycle records up to to (all of them,
// so that the member lists at from can be rebuilt). Summaries are read one per millisecond step,
// which gives back every stored summary unless two of one kind and member share a millisecond;
// the query leaves its end open (history bounds the steps of a closed range) and the rows after
// to are dropped here.
func LoadReplayHistory(ctx context.Context, src replaySource, clusterID string, from, to time.Time) (ReplayHistory, error) {
	var h ReplayHistory
	if clusterID == "" {
		return h, fmt.Errorf("%w: replay history: no cluster", ErrInvalid)
	}
	pts, err := src.Summaries(ctx, history.SummaryQuery{ClusterID: clusterID, From: from, Step: time.Millisecond})
	if err != nil {
		return h, fmt.Errorf("read summaries of %s: %w", clusterID, err)
	}
	for _, p := range pts {
		if !to.IsZero() && !p.Time.Before(to) {
			continue
		}
		h.Summaries = append(h.Summaries, model.Summary{Kind: p.Kind, ClusterID: p.ClusterID,
			ClusterInstanceID: p.ClusterInstanceID, MemberID: p.MemberID, Value: p.Avg, Timestamp: p.Time.UnixMilli()})
	}
	slices.SortStableFunc(h.Summaries, func(a, b model.Summary) int { return cmp.Compare(a.Timestamp, b.Timestamp) })

	h.Lifecycle, err = pageBack(time.Time{}, to,
		func(f, t time.Time) ([]model.LifecycleRecord, error) {
			return src.Lifecycle(ctx, history.LifecycleQuery{ClusterID: clusterID, From: f, To: t, Limit: history.MaxLimit})
		},
		func(r model.LifecycleRecord) time.Time { return r.Time },
		func(r model.LifecycleRecord) string { return fmt.Sprint(r) })
	if err != nil {
		return h, fmt.Errorf("read lifecycle of %s: %w", clusterID, err)
	}
	h.Decisions, err = pageBack(from, to,
		func(f, t time.Time) ([]model.Decision, error) {
			return src.Decisions(ctx, history.DecisionQuery{ClusterID: clusterID, From: f, To: t, Limit: history.MaxLimit})
		},
		func(d model.Decision) time.Time { return d.Time },
		func(d model.Decision) string { return d.ID })
	if err != nil {
		return h, fmt.Errorf("read decisions of %s: %w", clusterID, err)
	}
	return h, nil
}

// ReplayFrom reads the cluster's history of o's range from src (LoadReplayHistory) and replays
// it (Replay). A range without a recorded decision is an error: there is nothing to compare.
func ReplayFrom(ctx context.Context, src replaySource, o ReplayOptions) (*ReplayResult, error) {
	h, err := LoadReplayHistory(ctx, src, o.Cluster.ClusterID, o.From, o.To)
	if err != nil {
		return nil, err
	}
	if len(h.Decisions) == 0 {
		return nil, fmt.Errorf("no recorded decisions of cluster %s between %s and %s", o.Cluster.ClusterID,
			o.From.UTC().Format(time.RFC3339), o.To.UTC().Format(time.RFC3339))
	}
	return Replay(ctx, o, h)
}

// pageBack reads a range newest page first (history returns the newest Limit records), moving
// the end back to the oldest record read; records at the boundary millisecond are read twice and
// kept once.
func pageBack[T any](from, to time.Time, q func(from, to time.Time) ([]T, error), at func(T) time.Time, key func(T) string) ([]T, error) {
	var pages [][]T
	seen := map[string]bool{}
	for {
		page, err := q(from, to)
		if err != nil {
			return nil, err
		}
		fresh := page[:0:0]
		for _, r := range page {
			if k := key(r); !seen[k] {
				seen[k] = true
				fresh = append(fresh, r)
			}
		}
		pages = append(pages, fresh)
		if len(page) < history.MaxLimit || len(fresh) == 0 {
			break
		}
		next := at(page[0]).Add(time.Millisecond)
		if !to.IsZero() && !next.Before(to) {
			break
		}
		to = next
	}
	var out []T
	for i := len(pages) - 1; i >= 0; i-- {
		out = append(out, pages[i]...)
	}
	slices.SortStableFunc(out, func(a, b T) int { return at(a).Compare(at(b)) })
	return out, nil
}
