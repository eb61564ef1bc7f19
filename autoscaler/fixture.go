package autoscaler

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/strata-paas/strata/internal/clock"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// FixtureEpoch is the time a fixture's step "at: 0s" happens: a Monday at noon UTC, so that
// time-of-day rules see business hours. Fixtures are deterministic: the clock is fake and the
// starter answers at once.
var FixtureEpoch = time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)

// Report is the outcome of one fixture (`strata policy test`).
type Report struct {
	Name   string
	Source policies.Pos
	Steps  []StepReport
	Failed int // steps whose decision did not match
}

// StepReport is one step: the decision made and, when the step had an expectation, what did
// not match.
type StepReport struct {
	At       time.Duration
	Source   policies.Pos
	Decision model.Decision
	Expect   *policies.Expectation
	Failures []string
}

// Passed reports whether every expectation matched.
func (r Report) Passed() bool { return r.Failed == 0 }

// String summarizes the report, one line per failed expectation.
func (r Report) String() string {
	var b strings.Builder
	status := "ok"
	if !r.Passed() {
		status = "FAIL"
	}
	fmt.Fprintf(&b, "%s %s (%s)\n", status, r.Name, r.Source)
	for _, s := range r.Steps {
		for _, f := range s.Failures {
			fmt.Fprintf(&b, "  %s: at %v: %s\n", s.Source, s.At, f)
		}
	}
	return b.String()
}

// WriteReports writes the fixtures' reports (Report.String) and returns how many failed.
func WriteReports(w io.Writer, reports []Report) (failed int) {
	for _, r := range reports {
		fmt.Fprint(w, r.String())
		if !r.Passed() {
			failed++
		}
	}
	return failed
}

// fixtureStarter answers every start at once with a pending member and forgets terminations.
type fixtureStarter struct {
	mu sync.Mutex
	n  int
}

func (f *fixtureStarter) StartMember(_ context.Context, req StartRequest) (model.Member, error) {
	f.mu.Lock()
	f.n++
	id := req.ClusterID + "-started-" + strconv.Itoa(f.n)
	f.mu.Unlock()
	return model.Member{ClusterID: req.ClusterID, MemberID: id, ClusterInstanceID: req.ClusterInstanceID,
		NetworkPartitionID: req.NetworkPartitionID, PartitionID: req.PartitionID}, nil
}

func (f *fixtureStarter) TerminateMember(context.Context, string, bool) error { return nil }

type setSource struct{ s *policies.Set }

func (s setSource) Set() *policies.Set { return s.s }

type collectRecorder struct{ ds []model.Decision }

func (c *collectRecorder) RecordDecision(d model.Decision) bool { c.ds = append(c.ds, d); return true }

// RunFixture runs one fixture (policies.LoadFixtures) against the set: a fresh autoscaler with a
// fake clock and starter, one cluster instance with the fixture's members, and at each step the
// member counts it gives, its summaries, then one monitor round, whose decision is compared with
// the step's expectation. Members started by a decision join the pending list, so a later step
// sees them unless it sets the partition's counts again.
func RunFixture(ctx context.Context, set *policies.Set, fx policies.Fixture) (Report, error) {
	rep := Report{Name: fx.Name, Source: fx.Source}
	dep := fx.DeploymentPolicy
	if dep == "" {
		for _, d := range set.DeploymentPolicies() {
			for _, np := range d.NetworkPartitions {
				if np.ID == fx.Cluster.NetworkPartitionID && dep == "" {
					dep = d.ID
				}
			}
		}
	}
	if dep == "" {
		return rep, fmt.Errorf("fixture %s: %w: no deployment policy for network partition %q", fx.Name, ErrNotFound, fx.Cluster.NetworkPartitionID)
	}
	clk := clock.NewManual(FixtureEpoch)
	rec := &collectRecorder{}
	a, err := New(Options{Policies: setSource{set}, Starter: &fixtureStarter{}, Recorder: rec, Clock: clk})
	if err != nil {
		return rep, fmt.Errorf("fixture %s: %w", fx.Name, err)
	}
	c := fx.Cluster
	instanceID := c.ClusterInstanceID
	if instanceID == "" {
		instanceID = model.InstanceID(alias(c.ClusterID), 1)
	}
	spec := ClusterSpec{ClusterID: c.ClusterID, InstanceID: instanceID, NetworkPartition: c.NetworkPartitionID,
		ServiceName: c.Cartridge, ApplicationID: c.ApplicationID, TenantID: c.TenantID, Min: c.MinMembers, Max: c.MaxMembers,
		AutoscalePolicy: fx.AutoscalingPolicy, DeploymentPolicy: dep}
	if err := a.RegisterCluster(spec); err != nil {
		return rep, fmt.Errorf("fixture %s: %w", fx.Name, err)
	}
	a.mu.Lock()
	in := a.clusters[c.ClusterID].instances[instanceID]
	for _, m := range fx.Members {
		a.setCountsLocked(in, m, FixtureEpoch)
	}
	a.mu.Unlock()
	for _, st := range fx.Steps {
		now := FixtureEpoch.Add(st.At)
		clk.Set(now)
		a.mu.Lock()
		for _, m := range st.Members {
			a.setCountsLocked(in, m, now)
		}
		for i := range st.Summaries {
			s := st.Summaries[i]
			s.ClusterInstanceID = instanceID
			if s.Kind.MemberLevel() && a.members[s.MemberID] == nil {
				a.adoptFixtureMemberLocked(in, s.MemberID, s.PartitionID, now)
			}
			a.summaryLocked(&s, now)
		}
		in.nextTick = now // every step is one monitor round
		in.trigger = triggerTick
		a.queue.reschedule(in, now)
		a.mu.Unlock()
		rec.ds = rec.ds[:0]
		a.Evaluate(ctx)
		sr := StepReport{At: st.At, Source: st.Source, Expect: st.Expect}
		for _, d := range rec.ds {
			if d.Mode != string(policies.ModeShadow) {
				sr.Decision = d
				break
			}
		}
		if st.Expect != nil {
			sr.Failures = check(st.Expect, sr.Decision)
			if len(sr.Failures) > 0 {
				rep.Failed++
			}
		}
		rep.Steps = append(rep.Steps, sr)
	}
	return rep, nil
}

// RunFixtures runs every fixture and returns their reports in order.
func RunFixtures(ctx context.Context, set *policies.Set, fxs []policies.Fixture) ([]Report, error) {
	out := make([]Report, 0, len(fxs))
	for _, fx := range fxs {
		r, err := RunFixture(ctx, set, fx)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func check(e *policies.Expectation, d model.Decision) []string {
	var f []string
	if e.Action != d.Action {
		f = append(f, fmt.Sprintf("action %s, want %s (%s)", d.Action, e.Action, d.Reason))
	}
	if e.Delta != nil && *e.Delta != d.Delta {
		f = append(f, fmt.Sprintf("delta %d, want %d", d.Delta, *e.Delta))
	}
	if e.Required != nil && *e.Required != d.Required {
		f = append(f, fmt.Sprintf("required %d, want %d", d.Required, *e.Required))
	}
	if e.Denied != nil {
		denied := false
		if t, err := DecodeTrace(d); err == nil {
			for _, g := range t.Governance {
				denied = denied || g.Denied
			}
		}
		if denied != *e.Denied {
			f = append(f, fmt.Sprintf("denied %t, want %t", denied, *e.Denied))
		}
	}
	if e.ReasonContains != "" && !strings.Contains(d.Reason, e.ReasonContains) {
		f = append(f, fmt.Sprintf("reason %q does not contain %q", d.Reason, e.ReasonContains))
	}
	return f
}

// setCountsLocked makes a partition's member lists hold the fixture's counts, adding synthetic
// members or removing the newest.
func (a *Autoscaler) setCountsLocked(in *instance, fm policies.FixtureMembers, now time.Time) {
	pi := a.partIndexLocked(in, fm.Partition)
	want := [numLists]int{listPending: fm.Pending, listActive: fm.Active, listTerminationPending: fm.TerminationPending, listObsolete: fm.Obsolete}
	for l := list(0); l < numLists; l++ {
		for len(in.parts[pi].lists[l]) > want[l] {
			ms := in.parts[pi].lists[l]
			a.dropMemberLocked(ms[len(ms)-1])
			pi = a.partIndexLocked(in, fm.Partition)
		}
		for len(in.parts[pi].lists[l]) < want[l] {
			id := in.c.id + "-" + fm.Partition + "-" + l.String() + "-" + strconv.Itoa(len(in.parts[pi].lists[l])+1)
			for a.members[id] != nil {
				id += "x"
			}
			m := &member{id: id, in: in, part: pi, list: l, since: now, hasStats: l == listPending || l == listActive}
			a.joinLocked(&in.parts[pi], m)
			a.members[id] = m
		}
	}
	in.parts[pi].starting = 0
}

// adoptFixtureMemberLocked names a member a fixture's summary refers to: it takes the place of a
// synthetic active member of its partition (the first partition when none is given), or joins
// the active list.
func (a *Autoscaler) adoptFixtureMemberLocked(in *instance, id, partition string, now time.Time) {
	if len(in.parts) == 0 {
		return
	}
	pi := 0
	if partition != "" {
		pi = a.partIndexLocked(in, partition)
	}
	p := &in.parts[pi]
	for _, m := range p.lists[listActive] {
		if strings.HasPrefix(m.id, in.c.id+"-"+p.id+"-active-") {
			delete(a.members, m.id)
			m.id = id
			a.members[id] = m
			return
		}
	}
	m := &member{id: id, in: in, part: pi, list: listActive, since: now, hasStats: true}
	a.joinLocked(p, m)
	a.members[id] = m
}
