package autoscaler

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

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

// addStart records one start in the trace: a step of the starts in the same partition made
// since step first counts it in its Delta. One step per start made the trace of a deployment of
// N members N steps, kept in the decision ring and sent with the decision (issue 17: ~220 B a
// member at 100 000).
func (t *Trace) addStart(first int, s Step) {
	for i := first; i < len(t.Steps); i++ {
		if t.Steps[i].Partition == s.Partition {
			t.Steps[i].Delta += s.Delta
			return
		}
	}
	t.Steps = append(t.Steps, s)
}

func (t *Trace) reset(trig string, in *instance, mode policies.Mode) {
	*t = Trace{Trigger: trig, Status: string(in.status), Mode: string(mode), Deployment: in.c.deploymentPolicy,
		Algorithm: string(in.algo), Partitions: t.Partitions[:0], Rules: t.Rules[:0], Governance: t.Governance[:0],
		Steps: t.Steps[:0]}
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
	if mode == policies.ModeDryRun && res.delta != 0 && res.action != ActionMin && res.action != ActionMax {
		// The checks act in dry-run too; the policy's actions were only recorded.
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
	in.keep(d)
	a.queueDecisionLocked(d)
	return d.ID
}

// queueDecisionLocked queues a decision for the recorder and the bus, when either wants it.
func (a *Autoscaler) queueDecisionLocked(d model.Decision) {
	if a.opts.Recorder != nil || (a.opts.Bus != nil && a.opts.PublishDecisions) {
		a.decisions = append(a.decisions, decisionOut{d: d})
	}
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
