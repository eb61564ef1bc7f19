package autoscaler

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// The trace as text for people (`strata explain`).

// RenderTrace writes a decision and its trace as text for people (`strata explain`).
func RenderTrace(w io.Writer, d model.Decision) error {
	t, err := DecodeTrace(d)
	if err != nil {
		return err
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("%s  %s/%s (%s)  %s", d.Time.UTC().Format(time.RFC3339), d.ClusterID, d.ClusterInstanceID, d.NetworkPartitionID, d.Action)
	if d.Delta != 0 {
		p(" %+d", d.Delta)
	}
	p("\n  policy %s (%s), deployment %s (%s), trigger %s, instance %s\n", d.Policy, d.Mode, t.Deployment, orDash(t.Algorithm), t.Trigger, t.Status)
	p("  reason: %s\n", d.Reason)
	if d.Action == ActionTree || d.Action == ActionWaiting {
		// A decision of the application tree: no metrics or rules went into it.
		p("  decided by the application tree (%s); members: %d active, %d non-terminated\n", t.Limit, d.Active, d.NonTerminated)
		_, err = io.WriteString(w, b.String())
		return err
	}
	m := t.Members
	p("  members: %d active, %d pending, %d starting, %d termination-pending, %d obsolete; non-terminated %d (min %d, max %d)\n",
		m.Active, m.Pending, m.Starting, m.TerminationPending, m.Obsolete, m.NonTerminated, m.Min, m.Max)
	for _, pt := range t.Partitions {
		obs := ""
		if pt.Obsolete {
			obs = " (obsolete)"
		}
		p("    partition %s%s: %d active, %d pending, %d/%d non-terminated\n", pt.ID, obs, pt.Active, pt.Pending, pt.NonTerminated, pt.Max)
	}
	for _, f := range t.Families {
		flags := ""
		if f.Fresh {
			flags += " fresh"
		}
		if f.Missing {
			flags += " missing"
		}
		over := ""
		if f.Members > 0 {
			over = fmt.Sprintf(" (mean of %d members)", f.Members)
		}
		p("  %-3s avg %.4g grad %.4g sd %.4g -> predicted %.4g%s vs threshold %.4g -> requires %d%s\n",
			strings.ToUpper(f.Name), f.Average, f.Gradient, f.SecondDerivative, f.Predicted, over, f.Threshold, f.Required, flags)
	}
	if !t.ScalingRun {
		p("  scaling rule did not run (no family reset since the last run)\n")
	} else {
		p("  stratos: required %d, scale-up %t, scale-down %t\n", t.Stratos.Required, t.Stratos.ScaleUp, t.Stratos.ScaleDown)
		for _, r := range t.Rules {
			val := strconv.FormatFloat(r.Value, 'g', -1, 64)
			if r.IsBool {
				val = strconv.FormatBool(r.Verdict)
			}
			ch := ""
			if r.Changed {
				ch = " (changed)"
			}
			if r.Error != "" {
				val = "error: " + r.Error
			}
			p("  rule %s: %s = %s%s\n", r.Name, r.Target, val, ch)
			if r.Expr != "" {
				p("      %s\n", strings.TrimSpace(r.Expr))
			}
		}
		if t.Stabilized != 0 {
			p("  stabilization window: acting on required %d\n", t.Stabilized)
		}
		if t.ToleranceBand {
			p("  within the tolerance band: no change\n")
		}
		if t.MaxStepCap != 0 {
			p("  step capped at %d\n", t.MaxStepCap)
		}
		p("  final: required %d, scale-up %t, scale-down %t; scale-down requests %d\n", t.Final.Required, t.Final.ScaleUp, t.Final.ScaleDown, t.ScaleDownRequests)
	}
	for _, g := range t.Governance {
		verdict := "allowed"
		if g.Denied {
			verdict = "denied: " + strings.Join(g.Messages, "; ")
		}
		if g.Error != "" {
			verdict += " (error: " + g.Error + ")"
		}
		p("  governance %s %+d %s: %s\n", g.Action, g.Delta, orDash(g.Partition), verdict)
	}
	for _, s := range t.Steps {
		p("  %s: %s", s.Check, s.Action)
		if s.Partition != "" {
			p(" in %s", s.Partition)
		}
		if s.Member != "" {
			p(" member %s", s.Member)
		}
		if s.Delta > 1 { // the starts in one partition share a step
			p(" x%d", s.Delta)
		}
		if s.Forced {
			p(" (forced)")
		}
		p("\n")
	}
	if t.Limit != "" {
		p("  limited by: %s\n", t.Limit)
	}
	var would []string
	add := func(name string, v *float64, op string) {
		if v != nil {
			would = append(would, fmt.Sprintf("%s.predicted %s %.4g", name, op, *v))
		}
	}
	add("rif", t.WouldTrigger.RIFAbove, ">")
	add("mc", t.WouldTrigger.MCAbove, ">")
	add("la", t.WouldTrigger.LAAbove, ">")
	if len(would) > 0 {
		p("  would scale up if %s\n", strings.Join(would, " or "))
	}
	would = would[:0]
	add("rif", t.WouldTrigger.RIFAtMost, "<=")
	add("mc", t.WouldTrigger.MCBelow, "<")
	add("la", t.WouldTrigger.LAAtMost, "<=")
	if len(would) > 0 {
		p("  would scale down if %s\n", strings.Join(would, " and "))
	}
	if t.Error != "" {
		p("  error: %s\n", t.Error)
	}
	for _, e := range t.Ended {
		p("  member %s in %s ended before it became active: %s\n", e.Member, orDash(e.Partition), e.Error)
	}
	if t.HeldBack != "" {
		p("  start held back: %s\n", t.HeldBack)
	}
	for _, se := range t.StartErrors {
		n := ""
		if se.Count > 1 {
			n = fmt.Sprintf(" (%d starts)", se.Count)
		}
		p("  start failed in %s%s: %s\n", orDash(se.Partition), n, se.Error)
	}
	_, err = io.WriteString(w, b.String())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
