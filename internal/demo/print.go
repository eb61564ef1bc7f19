package demo

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-paas/strata/autoscaler"
	"github.com/strata-paas/strata/internal/model"
)

// state is what the phases and the CEP's subscriber tell the printer.
type state struct {
	start     time.Time
	clusterID string

	mu        sync.Mutex
	phase     string
	summaries map[model.SummaryKind]model.Summary // the latest cluster-level summaries
	maxActive int
	outAt     time.Duration // first scale-up decision, since start
	inAt      time.Duration // last scale-down decision that brought the cluster back to min
	upDelta   int
	downDelta int
}

func (s *state) setPhase(p string) {
	s.mu.Lock()
	s.phase = p
	s.mu.Unlock()
}

// summary is the CEP subscriber: it keeps the latest cluster-level summary of each kind.
func (s *state) summary(sum model.Summary) {
	if sum.ClusterID != s.clusterID || sum.Kind.MemberLevel() {
		return
	}
	s.mu.Lock()
	if s.summaries == nil {
		s.summaries = map[model.SummaryKind]model.Summary{}
	}
	s.summaries[sum.Kind] = sum
	s.mu.Unlock()
}

func (s *state) scaledOut() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxActive > demoMin
}

// members is what the printer reads of the controller.
type members interface {
	Members(clusterID string) []model.Member
}

// decisions is what the printer reads of the autoscaler.
type decisions interface {
	Decisions(clusterID string, n int) []model.Decision
}

// printer writes the demo's lines to out, from one goroutine at a time.
type printer struct {
	out     io.Writer
	st      *state
	members members
	scaler  decisions
	mu      sync.Mutex
	seen    map[string]bool // decisions printed

	names   map[string]string // member id -> address, for short lines
	skipped int               // monitor ticks without fresh metrics and without action, not printed
}

func newPrinter(out io.Writer, st *state, m members, d decisions) *printer {
	return &printer{out: out, st: st, members: m, scaler: d, seen: map[string]bool{}, names: map[string]string{}}
}

// name is a member's address, or its id when the address is not known yet.
func (p *printer) name(memberID string) string {
	if ip := p.names[memberID]; ip != "" {
		return ip
	}
	return memberID
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, format, args...)
}

// run prints the status line every second, preceded by the decisions made since the last one.
func (p *printer) run(ctx context.Context, ld *load) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last counts
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			last = p.tick(now, ld, last)
		}
	}
}

// counts is the load generator's totals at one status line.
type counts struct{ ok, errs, lat int64 }

// tick prints the decisions since the last tick and the status line at now; last is the load's
// totals at the previous tick, and tick returns the current ones.
func (p *printer) tick(now time.Time, ld *load, last counts) counts {
	p.decisions()
	cur := counts{ld.ok.Load(), ld.errs.Load(), ld.lat.Load()}
	dOK, dErr := cur.ok-last.ok, cur.errs-last.errs
	ms := 0.0
	if dOK > 0 {
		ms = float64(cur.lat-last.lat) / float64(dOK) / 1e6
	}
	members := p.members.Members(p.st.clusterID)
	for i := range members {
		if ip := members[i].DefaultPrivateIP; ip != "" {
			p.names[members[i].MemberID] = ip
		}
	}
	active := countStatus(members, model.MemberActive)
	p.st.mu.Lock()
	p.st.maxActive = max(p.st.maxActive, active)
	phase, sums := p.st.phase, p.st.summaries
	line := fmt.Sprintf("%s %-8s %2d workers %3d req/s %2d err %4.0f ms | %s | %s\n",
		p.elapsed(now), phase, ld.workers.Load(), dOK, dErr, ms, summaryText(sums), memberText(members))
	p.st.mu.Unlock()
	p.printf("%s", line)
	if dErr > 0 {
		if e, _ := ld.lastErr.Load().(string); e != "" {
			p.printf("         last error: %s\n", e)
		}
	}
	return cur
}

func (p *printer) elapsed(t time.Time) string {
	return fmt.Sprintf("[%4.0fs]", t.Sub(p.st.start).Seconds())
}

// decisions prints the decisions not printed yet, one line each.
func (p *printer) decisions() {
	for _, dec := range p.scaler.Decisions(p.st.clusterID, 64) {
		if p.seen[dec.ID] {
			continue
		}
		p.seen[dec.ID] = true
		if t, err := autoscaler.DecodeTrace(dec); err == nil && dec.Action == autoscaler.ActionNone && dec.Delta == 0 &&
			t.Limit == autoscaler.LimitNoFreshMetrics && len(t.Steps) == 0 {
			p.skipped++ // a monitor tick between two CEP windows: nothing to say
			continue
		}
		p.st.mu.Lock()
		switch {
		case dec.Action == autoscaler.ActionScaleUp && dec.Delta > 0:
			if p.st.outAt == 0 {
				p.st.outAt = dec.Time.Sub(p.st.start)
			}
			p.st.upDelta += dec.Delta
		case dec.Action == autoscaler.ActionScaleDown && dec.Delta < 0:
			p.st.downDelta -= dec.Delta
			if dec.NonTerminated+dec.Delta <= demoMin {
				p.st.inAt = dec.Time.Sub(p.st.start)
			}
		}
		p.st.mu.Unlock()
		p.printf("%s decision %s\n", p.elapsed(dec.Time), decisionLine(dec, p.name))
	}
}

// decisionLine is a decision on one line: the action, the counts, the reason and, when the
// scaling rule ran, the requests in flight and the rules that changed something.
func decisionLine(d model.Decision, name func(memberID string) string) string {
	var b strings.Builder
	b.WriteString(d.Action)
	if d.Delta != 0 {
		fmt.Fprintf(&b, " %+d", d.Delta)
	}
	fmt.Fprintf(&b, " (active %d, required %d): %s", d.Active, d.Required, d.Reason)
	t, err := autoscaler.DecodeTrace(d)
	if err != nil || len(d.Trace) == 0 {
		return b.String()
	}
	if t.ScalingRun {
		f := t.Families[0]
		fmt.Fprintf(&b, "; rif avg %.2f grad %+.2f -> predicted %.2f / threshold %g -> %d", f.Average, f.Gradient, f.Predicted, f.Threshold, f.Required)
		for _, r := range t.Rules {
			if !r.Changed {
				continue
			}
			if r.IsBool {
				fmt.Fprintf(&b, "; rule %s: %s = %t", r.Name, r.Target, r.Verdict)
			} else {
				fmt.Fprintf(&b, "; rule %s: %s = %g", r.Name, r.Target, r.Value)
			}
		}
		if t.Stabilized != 0 {
			fmt.Fprintf(&b, "; stabilization window: %d", t.Stabilized)
		}
		if t.Final.ScaleDown && t.ScaleDownRequests > 0 && d.Delta == 0 {
			fmt.Fprintf(&b, "; scale-down requests %d", t.ScaleDownRequests)
		}
	}
	for i := 0; i < len(t.Steps); {
		s := t.Steps[i]
		n := 1
		for i+n < len(t.Steps) && s.Member == "" && t.Steps[i+n] == s {
			n++
		}
		i += n
		if s.Delta > 1 { // the starts in one partition share a step
			n *= s.Delta
		}
		b.WriteString("; ")
		if s.Check != s.Action {
			b.WriteString(s.Check + ": ")
		}
		b.WriteString(s.Action)
		if n > 1 {
			fmt.Fprintf(&b, " x%d", n)
		}
		if s.Member != "" {
			b.WriteString(" " + name(s.Member))
		}
	}
	if t.Limit != "" && d.Delta == 0 {
		fmt.Fprintf(&b, " [%s]", t.Limit)
	}
	return b.String()
}

// summaryText is the latest cluster-level averages and gradients of the three families.
func summaryText(s map[model.SummaryKind]model.Summary) string {
	f := func(avg, grad model.SummaryKind, unit string) string {
		a, ok := s[avg]
		if !ok {
			return "-"
		}
		g := s[grad].Value
		if math.IsNaN(g) {
			g = 0
		}
		return fmt.Sprintf("%.1f%s (%+.2f/s)", a.Value, unit, g) // the gradient is per second
	}
	avg := func(k model.SummaryKind) string {
		if a, ok := s[k]; ok {
			return fmt.Sprintf("%.0f%%", a.Value)
		}
		return "-"
	}
	return "rif " + f(model.AverageRequestsInFlight, model.GradientOfRequestsInFlight, "") +
		" mc " + avg(model.AverageMemoryConsumption) + " la " + avg(model.AverageLoadAverage)
}

var statusOrder = []model.MemberStatus{model.MemberCreated, model.MemberInitialized, model.MemberStarting,
	model.MemberActive, model.MemberInMaintenance, model.MemberReadyToShutDown, model.MemberSuspended, model.MemberTerminated}

// memberText is the members by state, each state with its members' addresses.
func memberText(ms []model.Member) string {
	if len(ms) == 0 {
		return "none"
	}
	by := map[model.MemberStatus][]string{}
	for i := range ms {
		ip := ms[i].DefaultPrivateIP
		if ip == "" {
			ip = "?"
		}
		by[ms[i].Status()] = append(by[ms[i].Status()], ip)
	}
	var parts []string
	for _, s := range statusOrder {
		if ips := by[s]; len(ips) > 0 {
			slices.Sort(ips)
			parts = append(parts, fmt.Sprintf("%d %s [%s]", len(ips), s, strings.Join(ips, " ")))
		}
	}
	return strings.Join(parts, ", ")
}

// summary prints what the demo showed.
func (p *printer) summary(ld *load) {
	p.st.mu.Lock()
	maxActive, outAt, inAt, up, down := p.st.maxActive, p.st.outAt, p.st.inAt, p.st.upDelta, p.st.downDelta
	p.st.mu.Unlock()
	var served []string
	ld.served.Range(func(k, v any) bool {
		served = append(served, fmt.Sprintf("%s %d", p.name(k.(string)), v.(*atomic.Int64).Load()))
		return true
	})
	slices.Sort(served)
	p.printf("strata demo: summary\n")
	p.printf("  requests: %d served, %d errors; by member: %s\n", ld.ok.Load(), ld.errs.Load(), strings.Join(served, ", "))
	p.printf("  max members reached: %d Active (min %d, max %d); %d monitor ticks without fresh metrics not shown\n", maxActive, demoMin, demoMax, p.skipped)
	if outAt > 0 {
		p.printf("  scaled out at %s (%d members started by scale-up decisions)\n", outAt.Round(time.Second), up)
	} else {
		p.printf("  did not scale out\n")
	}
	if inAt > 0 {
		p.printf("  scaled back in to %d at %s (%d members terminated by scale-down decisions)\n", demoMin, inAt.Round(time.Second), down)
	} else {
		p.printf("  did not scale back in to %d (%d members terminated by scale-down decisions)\n", demoMin, down)
	}
}
