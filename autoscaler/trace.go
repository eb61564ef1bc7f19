package autoscaler

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// Trace is the structured explanation of one decision, stored as JSON in model.Decision.Trace:
// the inputs, the predictions and required counts, Stratos' verdicts, each policy rule's
// verdict, the behaviour settings that applied, governance answers, the steps taken (or that
// would have been), the limiting constraint and what would have triggered a change.
// RenderTrace prints it for people.
type Trace struct {
	Trigger    string           `json:"trigger"` // tick, metrics, member-event
	Status     string           `json:"status"`  // the cluster instance status
	Policy     string           `json:"policy,omitempty"`
	Mode       string           `json:"mode"`
	ShadowOf   string           `json:"shadowOf,omitempty"`
	Deployment string           `json:"deployment,omitempty"`
	Algorithm  string           `json:"algorithm,omitempty"`
	Members    Counts           `json:"members"`
	Partitions []PartitionTrace `json:"partitions,omitempty"`
	Families   [3]FamilyTrace   `json:"families"`   // rif, mc, la
	ScalingRun bool             `json:"scalingRun"` // a family was reset, so the scaling rule ran
	Stratos    Verdict          `json:"stratos"`    // Stratos' required count and verdicts
	Rules      []RuleTrace      `json:"rules,omitempty"`
	Final      Verdict          `json:"final"` // after rules and behaviour
	Stabilized int              `json:"stabilized,omitempty"`
	// ToleranceBand: the change was within the tolerance band. MaxStepCap: the step was capped.
	ToleranceBand     bool       `json:"toleranceBand,omitempty"`
	MaxStepCap        int        `json:"maxStepCap,omitempty"`
	BeyondMax         bool       `json:"beyondMax,omitempty"` // required > max (ScalingUpBeyondMax)
	ScaleDownRequests int        `json:"scaleDownRequests"`
	Governance        []GovTrace `json:"governance,omitempty"`
	Steps             []Step     `json:"steps,omitempty"`
	Limit             string     `json:"limit,omitempty"`
	WouldTrigger      Would      `json:"would"`
	Error             string     `json:"error,omitempty"`
	// StartErrors are the starts this decision took that the cloud controller refused or
	// could not carry out, with its reason; they are added once the controller has answered.
	StartErrors []StartError `json:"startErrors,omitempty"`
	// Ended are the pending members that ended before they became Active since the previous
	// decision (their start failed after the controller had answered), with the reason.
	Ended []StartError `json:"ended,omitempty"`
	// HeldBack says why starts were held back: the cluster instance's crash-loop back-off.
	HeldBack string `json:"heldBack,omitempty"`

	would *[6]float64 // the values WouldTrigger is written from (NaN: absent)
}

// Counts are the member counts of the instance.
type Counts struct {
	Active             int `json:"active"`
	Pending            int `json:"pending"`
	Starting           int `json:"starting"`
	TerminationPending int `json:"terminationPending"`
	Obsolete           int `json:"obsolete"`
	NonTerminated      int `json:"nonTerminated"`
	Min                int `json:"min"`
	Max                int `json:"max"`
}

// PartitionTrace is one partition context.
type PartitionTrace struct {
	ID            string `json:"id"`
	Max           int    `json:"max"`
	Active        int    `json:"active"`
	Pending       int    `json:"pending"`
	NonTerminated int    `json:"nonTerminated"`
	Obsolete      bool   `json:"obsolete,omitempty"`
}

// FamilyTrace is one metric family: the CEP values, the prediction and the required count.
type FamilyTrace struct {
	Name             string  `json:"name"`
	Average          float64 `json:"average,omitempty"`
	Gradient         float64 `json:"gradient,omitempty"`
	SecondDerivative float64 `json:"secondDerivative,omitempty"`
	Predicted        float64 `json:"predicted,omitempty"`
	Threshold        float64 `json:"threshold"`
	Required         int     `json:"required"`
	Fresh            bool    `json:"fresh,omitempty"`
	Missing          bool    `json:"missing,omitempty"`
	Members          int     `json:"members,omitempty"` // member stats contexts averaged (MC, LA)
}

// Verdict is a required count with the scale-up and scale-down verdicts.
type Verdict struct {
	Required  int  `json:"required"`
	ScaleUp   bool `json:"scaleUp"`
	ScaleDown bool `json:"scaleDown"`
}

// RuleTrace is one policy rule's verdict.
type RuleTrace struct {
	Name    string  `json:"name"`
	Target  string  `json:"target"`
	Expr    string  `json:"expr,omitempty"`    // only when the rule changed its target or failed
	Value   float64 `json:"value,omitempty"`   // a required rule's number
	Verdict bool    `json:"verdict,omitempty"` // a scaleUp/scaleDown rule's value
	IsBool  bool    `json:"isBool,omitempty"`
	Changed bool    `json:"changed"`
	Error   string  `json:"error,omitempty"`
}

// GovTrace is one governance (Rego) answer.
type GovTrace struct {
	Action    string   `json:"action"`
	Partition string   `json:"partition,omitempty"`
	Delta     int      `json:"delta"`
	Denied    bool     `json:"denied"`
	Messages  []string `json:"messages,omitempty"`
	Cached    bool     `json:"cached,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// Step is one action taken, or that would have been ("would-start", "would-terminate").
type Step struct {
	Check     string `json:"check"` // min, max, scale, missing-metrics, cleanup, obsolete, *-expiry
	Action    string `json:"action"`
	Partition string `json:"partition,omitempty"`
	Member    string `json:"member,omitempty"`
	Delta     int    `json:"delta,omitempty"`
	Forced    bool   `json:"forced,omitempty"`
}

// StartError is one start of a decision that failed, and why.
type StartError struct {
	Partition string `json:"partition,omitempty"`
	Member    string `json:"member,omitempty"`
	Error     string `json:"error"`
	Count     int    `json:"count"` // starts in the partition that failed so
}

// Would holds the predicted values at which each family would have changed the decision at the
// current active count: above *Above the family requires more members than are active; at or
// below *AtMost (MC: below) it requires fewer. Absent when the family cannot trigger.
type Would struct {
	RIFAbove  *float64 `json:"rifAbove,omitempty"`
	MCAbove   *float64 `json:"mcAbove,omitempty"`
	LAAbove   *float64 `json:"laAbove,omitempty"`
	RIFAtMost *float64 `json:"rifAtMost,omitempty"`
	MCBelow   *float64 `json:"mcBelow,omitempty"`
	LAAtMost  *float64 `json:"laAtMost,omitempty"`
}

var wouldKeys = [6]string{"rifAbove", "mcAbove", "laAbove", "rifAtMost", "mcBelow", "laAtMost"}

func (t *Trace) reset(trig string, in *instance, mode policies.Mode) {
	*t = Trace{Trigger: trig, Status: string(in.status), Mode: string(mode), Deployment: in.c.deploymentPolicy,
		Algorithm: string(in.algo), Partitions: t.Partitions[:0], Rules: t.Rules[:0], Governance: t.Governance[:0],
		Steps: t.Steps[:0]}
}

// encodeTrace writes t as JSON into the scratch buffer (valid until the next call) without
// allocating. It is kept because it pays on the round: against encoding/json (encodeTraceJSON in
// trace_bench_test.go, the same document once decoded) BenchmarkTraceEncode measured 3.3 µs and
// 0 allocations against 12.3 µs and 9 allocations (2.2 KiB) per trace, and BenchmarkRound10k
// 235 ms against 363 ms per fresh round (+55%) and 53 ms against 154 ms per steady round
// (2 shared cores, 8 interleaved runs, benchstat p <= 0.01).
func (a *Autoscaler) encodeTrace(t *Trace) []byte {
	b := a.scratch.buf[:0]
	b = append(b, '{')
	b = kstr(b, "trigger", t.Trigger)
	b = kstr(b, "status", t.Status)
	if t.Policy != "" {
		b = kstr(b, "policy", t.Policy)
	}
	b = kstr(b, "mode", t.Mode)
	if t.ShadowOf != "" {
		b = kstr(b, "shadowOf", t.ShadowOf)
	}
	if t.Deployment != "" {
		b = kstr(b, "deployment", t.Deployment)
	}
	if t.Algorithm != "" {
		b = kstr(b, "algorithm", t.Algorithm)
	}
	m := &t.Members
	b = key(b, "members")
	b = append(b, '{')
	b = kint(b, "active", m.Active)
	b = kint(b, "pending", m.Pending)
	b = kint(b, "starting", m.Starting)
	b = kint(b, "terminationPending", m.TerminationPending)
	b = kint(b, "obsolete", m.Obsolete)
	b = kint(b, "nonTerminated", m.NonTerminated)
	b = kint(b, "min", m.Min)
	b = kint(b, "max", m.Max)
	b = endObj(b)
	b = append(b, ',')
	if len(t.Partitions) > 0 {
		b = key(b, "partitions")
		b = append(b, '[')
		for _, p := range t.Partitions {
			b = append(b, '{')
			b = kstr(b, "id", p.ID)
			b = kint(b, "max", p.Max)
			b = kint(b, "active", p.Active)
			b = kint(b, "pending", p.Pending)
			b = kint(b, "nonTerminated", p.NonTerminated)
			if p.Obsolete {
				b = kbool(b, "obsolete", true)
			}
			b = endObj(b)
			b = append(b, ',')
		}
		b = endArr(b)
	}
	b = key(b, "families")
	b = append(b, '[')
	for _, f := range t.Families {
		b = append(b, '{')
		b = kstr(b, "name", f.Name)
		for _, kv := range [...]struct {
			k string
			v float64
		}{{"average", f.Average}, {"gradient", f.Gradient}, {"secondDerivative", f.SecondDerivative}, {"predicted", f.Predicted}} {
			if kv.v != 0 {
				b = knum(b, kv.k, kv.v)
			}
		}
		b = knum(b, "threshold", f.Threshold)
		b = kint(b, "required", f.Required)
		if f.Fresh {
			b = kbool(b, "fresh", true)
		}
		if f.Missing {
			b = kbool(b, "missing", true)
		}
		if f.Members != 0 {
			b = kint(b, "members", f.Members)
		}
		b = endObj(b)
		b = append(b, ',')
	}
	b = endArr(b)
	b = kbool(b, "scalingRun", t.ScalingRun)
	b = verdict(b, "stratos", t.Stratos)
	if len(t.Rules) > 0 {
		b = key(b, "rules")
		b = append(b, '[')
		for _, r := range t.Rules {
			b = append(b, '{')
			b = kstr(b, "name", r.Name)
			b = kstr(b, "target", r.Target)
			if r.Changed || r.Error != "" {
				b = kstr(b, "expr", r.Expr) // the policy holds the others' text
			}
			if r.IsBool {
				b = kbool(b, "verdict", r.Verdict)
				b = kbool(b, "isBool", true)
			} else if r.Value != 0 {
				b = knum(b, "value", r.Value)
			}
			b = kbool(b, "changed", r.Changed)
			if r.Error != "" {
				b = kstr(b, "error", r.Error)
			}
			b = endObj(b)
			b = append(b, ',')
		}
		b = endArr(b)
	}
	b = verdict(b, "final", t.Final)
	if t.Stabilized != 0 {
		b = kint(b, "stabilized", t.Stabilized)
	}
	if t.ToleranceBand {
		b = kbool(b, "toleranceBand", true)
	}
	if t.MaxStepCap != 0 {
		b = kint(b, "maxStepCap", t.MaxStepCap)
	}
	if t.BeyondMax {
		b = kbool(b, "beyondMax", true)
	}
	b = kint(b, "scaleDownRequests", t.ScaleDownRequests)
	if len(t.Governance) > 0 {
		b = key(b, "governance")
		b = append(b, '[')
		for _, g := range t.Governance {
			b = append(b, '{')
			b = kstr(b, "action", g.Action)
			if g.Partition != "" {
				b = kstr(b, "partition", g.Partition)
			}
			b = kint(b, "delta", g.Delta)
			b = kbool(b, "denied", g.Denied)
			if len(g.Messages) > 0 {
				b = key(b, "messages")
				b = append(b, '[')
				for _, m := range g.Messages {
					b = appendJSONString(b, m)
					b = append(b, ',')
				}
				b = endArr(b)
			}
			if g.Cached {
				b = kbool(b, "cached", true)
			}
			if g.Error != "" {
				b = kstr(b, "error", g.Error)
			}
			b = endObj(b)
			b = append(b, ',')
		}
		b = endArr(b)
	}
	if len(t.Steps) > 0 {
		b = key(b, "steps")
		b = append(b, '[')
		for _, s := range t.Steps {
			b = append(b, '{')
			b = kstr(b, "check", s.Check)
			b = kstr(b, "action", s.Action)
			if s.Partition != "" {
				b = kstr(b, "partition", s.Partition)
			}
			if s.Member != "" {
				b = kstr(b, "member", s.Member)
			}
			if s.Delta != 0 {
				b = kint(b, "delta", s.Delta)
			}
			if s.Forced {
				b = kbool(b, "forced", true)
			}
			b = endObj(b)
			b = append(b, ',')
		}
		b = endArr(b)
	}
	if t.Limit != "" {
		b = kstr(b, "limit", t.Limit)
	}
	b = key(b, "would")
	b = append(b, '{')
	if t.would != nil {
		for i, v := range t.would {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				b = knum(b, wouldKeys[i], v)
			}
		}
	}
	b = endObj(b)
	b = append(b, ',')
	if t.Error != "" {
		b = kstr(b, "error", t.Error)
	}
	if t.HeldBack != "" {
		b = kstr(b, "heldBack", t.HeldBack)
	}
	if len(t.Ended) > 0 {
		b = key(b, "ended")
		b = append(b, '[')
		for _, e := range t.Ended {
			b = append(b, '{')
			b = kstr(b, "partition", e.Partition)
			b = kstr(b, "member", e.Member)
			b = kstr(b, "error", e.Error)
			b = kint(b, "count", e.Count)
			b = endObj(b)
			b = append(b, ',')
		}
		b = endArr(b)
	}
	b = endObj(b)
	a.scratch.buf = b
	return b
}

func key(b []byte, k string) []byte {
	b = append(b, '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

func kstr(b []byte, k, v string) []byte {
	b = key(b, k)
	b = appendJSONString(b, v)
	return append(b, ',')
}

func kint(b []byte, k string, v int) []byte {
	b = key(b, k)
	b = strconv.AppendInt(b, int64(v), 10)
	return append(b, ',')
}

func knum(b []byte, k string, v float64) []byte {
	b = key(b, k)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	b = strconv.AppendFloat(b, v, 'g', -1, 64)
	return append(b, ',')
}

func kbool(b []byte, k string, v bool) []byte {
	b = key(b, k)
	b = strconv.AppendBool(b, v)
	return append(b, ',')
}

func verdict(b []byte, k string, v Verdict) []byte {
	b = key(b, k)
	b = append(b, '{')
	b = kint(b, "required", v.Required)
	b = kbool(b, "scaleUp", v.ScaleUp)
	b = kbool(b, "scaleDown", v.ScaleDown)
	b = endObj(b)
	return append(b, ',')
}

// endObj replaces a trailing comma with '}'.
func endObj(b []byte) []byte {
	if b[len(b)-1] == ',' {
		b[len(b)-1] = '}'
		return b
	}
	return append(b, '}')
}

func endArr(b []byte) []byte {
	if b[len(b)-1] == ',' {
		b[len(b)-1] = ']'
	} else {
		b = append(b, ']')
	}
	return append(b, ',')
}

const hexDigits = "0123456789abcdef"

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
			continue
		}
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\t':
			b = append(b, '\\', 't')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
	}
	return append(b, '"')
}

// recordLocked turns an evaluation into a model.Decision: into the instance's ring (for
// Decisions) and on to the recorder and the bus.
func (a *Autoscaler) recordLocked(in *instance, now time.Time, pol *policies.Autoscaling, okP bool, mode policies.Mode,
	tr *Trace, res result, reason string) string {
	id := in.c.autoscalePolicy
	if okP {
		id = pol.ID
	}
	if reason == "" {
		reason = res.reason
	}
	if mode == policies.ModeDryRun && res.delta != 0 {
		reason = "dry-run, nothing done: " + reason
	}
	return a.recordRawLocked(in, now, id, string(mode), res, reason, a.encodeTrace(tr))
}

// recordRawLocked records a decision and returns its id.
func (a *Autoscaler) recordRawLocked(in *instance, now time.Time, policy, mode string, res result, reason string, trace []byte) string {
	a.stats.decisions.Add(1)
	a.metrics.decision(mode, res.action)
	var seq [16]byte
	d := model.Decision{
		ID: in.c.id + "-" + a.idBase + string(strconv.AppendUint(seq[:0], a.seq.Add(1), 36)), Time: now,
		ClusterID: in.c.id, ClusterInstanceID: in.id, NetworkPartitionID: in.np,
		Policy: policy, Mode: mode, Action: res.action, Active: in.count(listActive),
		NonTerminated: in.nonTerminated(), Required: res.required, Delta: res.delta, Reason: reason,
	}
	// Traces are immutable once recorded: the ring and the recorder share one copy, and a trace
	// equal to the instance's previous one (a steady instance) shares that copy.
	if prev := in.lastTrace; prev != nil && string(prev) == string(trace) {
		d.Trace = prev
	} else {
		d.Trace = append(json.RawMessage(nil), trace...)
		if policy == in.c.autoscalePolicy {
			in.lastTrace = d.Trace
		}
	}
	if len(in.ring) < cap(in.ring) {
		in.ring = append(in.ring, d)
	} else {
		in.ring[in.ringNext] = d
		in.ringNext = (in.ringNext + 1) % len(in.ring)
	}
	if a.opts.Recorder != nil || (a.opts.Bus != nil && a.opts.PublishDecisions) {
		a.decisions = append(a.decisions, decisionOut{d: d})
	}
	return d.ID
}

// DecodeTrace decodes a decision's trace.
func DecodeTrace(d model.Decision) (Trace, error) {
	var t Trace
	if len(d.Trace) == 0 {
		return t, nil
	}
	if err := json.Unmarshal(d.Trace, &t); err != nil {
		return t, fmt.Errorf("decode trace of decision %s: %w", d.ID, err)
	}
	return t, nil
}

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
