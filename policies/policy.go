package policies

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/strata-paas/strata/rules"
)

// Kind names a kind of policy. The YAML `kind` key takes these values.
type Kind string

// The policy kinds.
const (
	KindAutoscaling      Kind = "AutoscalingPolicy"
	KindDeployment       Kind = "DeploymentPolicy"
	KindApplication      Kind = "ApplicationPolicy"
	KindNetworkPartition Kind = "NetworkPartition"
	KindGovernance       Kind = "Governance" // a .rego module; no YAML form
)

// Ref identifies a policy: its kind and id.
type Ref struct {
	Kind Kind   `json:"kind"`
	ID   string `json:"id"`
}

func (r Ref) String() string { return string(r.Kind) + "/" + r.ID }

// Policy is any loaded policy: *Autoscaling, *Deployment, *Application, *NetworkPartition or
// *Governance.
type Policy interface {
	Ref() Ref
	// At is where the policy was defined.
	At() Pos
	fingerprint() string
}

// fingerprintOf is the identity of a policy's content: two loads of the same content (wherever
// it sits in its file) have the same fingerprint, so the reloaded set keeps the old pointer.
func fingerprintOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("policies: fingerprint: %v", err))
	}
	sum := sha256.Sum256(b)
	return string(sum[:])
}

// Mode says what the autoscaler does with an autoscaling policy's decisions.
type Mode string

// The modes.
const (
	// ModeEnforce decides and acts.
	ModeEnforce Mode = "enforce"
	// ModeDryRun decides and records the decision, and does nothing.
	ModeDryRun Mode = "dry-run"
	// ModeShadow evaluates beside the enforced policy named by ShadowOf, on the same cluster
	// instances, and records where its decision differs.
	ModeShadow Mode = "shadow"
)

// Autoscaling is an autoscaling policy: Stratos' load thresholds (docs/stratos-wire.md §5.1) plus
// rules that can change the required count and the scale-up/scale-down verdicts, and behaviour
// settings Stratos lacks.
type Autoscaling struct {
	ID                     string     `json:"id"`
	DisplayName            string     `json:"displayName,omitempty"`
	Description            string     `json:"description,omitempty"`
	IsPublic               bool       `json:"isPublic,omitempty"`
	TenantID               int        `json:"tenantId,omitempty"`
	Thresholds             Thresholds `json:"loadThresholds"`
	InstanceRoundingFactor float64    `json:"instanceRoundingFactor,omitempty"`
	Mode                   Mode       `json:"mode"`
	ShadowOf               string     `json:"shadowOf,omitempty"`
	Rules                  []Rule     `json:"rules,omitempty"`
	Behaviour              Behaviour  `json:"behaviour"`
	Source                 Pos        `json:"-"`
	fp                     string
	refs                   map[string]Pos
}

// Thresholds are the per-family thresholds of §4.4: requests in flight per member, and target
// memory consumption and load average in percent.
type Thresholds struct {
	RequestsInFlight  float64 `json:"requestsInFlight"`
	MemoryConsumption float64 `json:"memoryConsumption"`
	LoadAverage       float64 `json:"loadAverage"`
}

// Target is what a rule's result replaces.
type Target string

// The rule targets.
const (
	TargetRequired  Target = "required"  // a Number rule: the required member count (rounded up)
	TargetScaleUp   Target = "scaleUp"   // a Bool rule: the scale-up verdict
	TargetScaleDown Target = "scaleDown" // a Bool rule: the scale-down verdict
)

// Rule is one expr rule of an autoscaling policy. Rules run in order after the Stratos
// computation; each replaces its target in the environment, so later rules see the new value.
type Rule struct {
	Name    string         `json:"name"`
	Target  Target         `json:"target"`
	Expr    string         `json:"expr"`
	Program *rules.Program `json:"-"`
	Source  Pos            `json:"-"`
}

// Behaviour holds the settings Stratos lacks. Zero values mean Stratos' behaviour.
type Behaviour struct {
	ScaleUp   Direction `json:"scaleUp"`
	ScaleDown Direction `json:"scaleDown"`
	// Tolerance is a fraction of the active count: no scaling while |required − active| ≤
	// Tolerance × active. 0 disables the band.
	Tolerance      float64        `json:"tolerance,omitempty"`
	MissingMetrics MissingMetrics `json:"missingMetrics"`
}

// Direction limits scaling in one direction.
type Direction struct {
	// StabilizationWindow: act on the most conservative required count seen in the window (the
	// highest when scaling down, the lowest when scaling up). 0 acts at once.
	StabilizationWindow time.Duration `json:"stabilizationWindow,omitempty"`
	// MaxStep caps the members started or terminated in one decision; 0 means no cap.
	MaxStep int `json:"maxStep,omitempty"`
}

// MissingAction is what to do when a cluster instance's metrics stop arriving.
type MissingAction string

// The missing-metrics actions.
const (
	MissingHold     MissingAction = "hold"      // keep the current count (the default)
	MissingFloor    MissingAction = "floor"     // scale to Floor (at least the instance's min)
	MissingScaleOut MissingAction = "scale-out" // fail safe: add Step members, up to max
)

// MissingMetrics says when metrics count as missing and what to do then.
type MissingMetrics struct {
	After  time.Duration `json:"after"`
	Action MissingAction `json:"action"`
	Floor  int           `json:"floor,omitempty"`
	Step   int           `json:"step,omitempty"`
}

// DefaultMissingAfter is how long a family may go without a summary before it counts as missing:
// five CEP publishing periods of one minute.
const DefaultMissingAfter = 5 * time.Minute

// Ref implements Policy.
func (a *Autoscaling) Ref() Ref { return Ref{Kind: KindAutoscaling, ID: a.ID} }

// At implements Policy.
func (a *Autoscaling) At() Pos { return a.Source }

func (a *Autoscaling) fingerprint() string { return a.fp }

// NetworkPartition is a network partition and its partitions (§5.2).
type NetworkPartition struct {
	ID         string      `json:"id"`
	Provider   string      `json:"provider"`
	IsPublic   bool        `json:"isPublic,omitempty"`
	Partitions []Partition `json:"partitions"`
	Properties []Property  `json:"properties,omitempty"`
	Source     Pos         `json:"-"`
	fp         string
}

// Partition is one partition of a network partition (a region or zone of its IaaS).
type Partition struct {
	ID          string     `json:"id"`
	Description string     `json:"description,omitempty"`
	IsPublic    bool       `json:"isPublic,omitempty"`
	Properties  []Property `json:"properties,omitempty"`
}

// Ref implements Policy.
func (n *NetworkPartition) Ref() Ref { return Ref{Kind: KindNetworkPartition, ID: n.ID} }

// At implements Policy.
func (n *NetworkPartition) At() Pos { return n.Source }

func (n *NetworkPartition) fingerprint() string { return n.fp }

// Partition returns the partition with the id.
func (n *NetworkPartition) Partition(id string) (*Partition, bool) {
	for i := range n.Partitions {
		if n.Partitions[i].ID == id {
			return &n.Partitions[i], true
		}
	}
	return nil, false
}

// PartitionAlgorithm picks partitions within a network partition (§4.6).
type PartitionAlgorithm string

// The partition algorithms.
const (
	OneAfterAnother PartitionAlgorithm = "one-after-another"
	RoundRobin      PartitionAlgorithm = "round-robin"
)

// Deployment is a deployment policy (§5.3): where a cluster's members go.
type Deployment struct {
	ID                string                       `json:"id"`
	NetworkPartitions []DeploymentNetworkPartition `json:"networkPartitions"`
	Source            Pos                          `json:"-"`
	fp                string
	refs              map[string]Pos
}

// DeploymentNetworkPartition is one network partition of a deployment policy.
type DeploymentNetworkPartition struct {
	ID         string                `json:"id"`
	Algorithm  PartitionAlgorithm    `json:"partitionAlgo"`
	Partitions []DeploymentPartition `json:"partitions"`
}

// DeploymentPartition is a partition of a deployment policy with its member cap.
type DeploymentPartition struct {
	ID  string `json:"id"`
	Max int    `json:"partitionMax"`
}

// Ref implements Policy.
func (d *Deployment) Ref() Ref { return Ref{Kind: KindDeployment, ID: d.ID} }

// At implements Policy.
func (d *Deployment) At() Pos { return d.Source }

func (d *Deployment) fingerprint() string { return d.fp }

// NetworkPartitionAlgorithm picks network partitions for an application (§4.6).
type NetworkPartitionAlgorithm string

// The network partition algorithms.
const (
	AllAtOnce         NetworkPartitionAlgorithm = "all-at-once"
	OneAfterAnotherNP NetworkPartitionAlgorithm = "one-after-another"
)

// Application is an application policy (§5.4).
type Application struct {
	ID                string                    `json:"id"`
	Algorithm         NetworkPartitionAlgorithm `json:"algorithm"`
	NetworkPartitions []string                  `json:"networkPartitions"`
	// Groups is the networkPartitionGroups property parsed: groups separated by "," and the
	// members of a group by "|". Nil when the property is absent.
	Groups     [][]string `json:"networkPartitionGroups,omitempty"`
	Properties []Property `json:"properties,omitempty"`
	Source     Pos        `json:"-"`
	fp         string
	refs       map[string]Pos
}

// Ref implements Policy.
func (a *Application) Ref() Ref { return Ref{Kind: KindApplication, ID: a.ID} }

// At implements Policy.
func (a *Application) At() Pos { return a.Source }

func (a *Application) fingerprint() string { return a.fp }

// Governance is one Rego module of the governance policy. All modules share the package
// strata.governance (or packages below it); the entrypoint is the set
// data.strata.governance.deny, each element a message that denies the proposed action.
type Governance struct {
	ID      string `json:"id"` // the file's path relative to the policy directory
	Package string `json:"package"`
	Module  string `json:"module"`
	Source  Pos    `json:"-"`
	fp      string
}

var packageLine = regexp.MustCompile(`(?m)^\s*package\s+([\w.]+)`)

// GovernanceQuery is the query every governance evaluation runs.
const GovernanceQuery = "data.strata.governance.deny"

// Ref implements Policy.
func (g *Governance) Ref() Ref { return Ref{Kind: KindGovernance, ID: g.ID} }

// At implements Policy.
func (g *Governance) At() Pos { return g.Source }

func (g *Governance) fingerprint() string { return g.fp }

// NewGovernance returns a governance module; its package and Rego are checked when it joins a
// Set.
func NewGovernance(id, file, module string) *Governance {
	g := &Governance{ID: id, Module: module, Source: Pos{File: file, Line: 1, Col: 1}}
	if m := packageLine.FindStringSubmatch(module); m != nil {
		g.Package = m[1]
	}
	g.fp = fingerprintOf(g)
	return g
}

// ---- conversion and validation ------------------------------------------------------------

func required(p *problems, m *meta, key string, s str, what string) string {
	v := strings.TrimSpace(s.V)
	if v == "" {
		if m.has(key) {
			p.add(m.at(key), "%s: %s must not be blank", what, key)
		} else {
			p.add(m.pos, "%s: missing %s", what, key)
		}
	}
	return v
}

func convertAutoscaling(f *fileAutoscaling, p *problems) *Autoscaling {
	a := &Autoscaling{
		ID:                     required(p, &f.meta, "id", f.ID, "autoscaling policy"),
		DisplayName:            f.DisplayName,
		Description:            f.Description,
		IsPublic:               f.IsPublic,
		TenantID:               f.TenantID,
		InstanceRoundingFactor: f.InstanceRoundingFactor,
		Mode:                   ModeEnforce,
		ShadowOf:               strings.TrimSpace(f.ShadowOf.V),
		Source:                 f.pos,
		refs:                   map[string]Pos{refKey("shadowOf", 0, 0): f.ShadowOf.Pos},
	}
	if a.InstanceRoundingFactor < 0 || a.InstanceRoundingFactor >= 1 {
		p.add(f.at("instanceRoundingFactor"), "instanceRoundingFactor must be in [0, 1)")
	}
	// Thresholds (§4.4). Each family is required, as Stratos' samples always give all three.
	if t := f.LoadThresholds; t == nil {
		p.add(f.pos, "autoscaling policy: missing loadThresholds")
	} else {
		get := func(ft *fileThreshold, key string) float64 {
			if ft == nil || ft.Threshold == nil {
				at := t.pos
				if ft != nil {
					at = ft.pos
				}
				p.add(at, "loadThresholds: missing %s.threshold", key)
				return 0
			}
			return *ft.Threshold
		}
		a.Thresholds.RequestsInFlight = get(t.RequestsInFlight, "requestsInFlight")
		a.Thresholds.MemoryConsumption = get(t.MemoryConsumption, "memoryConsumption")
		a.Thresholds.LoadAverage = get(t.LoadAverage, "loadAverage")
		if t.RequestsInFlight != nil && a.Thresholds.RequestsInFlight < 0 {
			p.add(t.RequestsInFlight.at("threshold"), "requestsInFlight threshold must not be negative")
		}
		if t.MemoryConsumption != nil && t.MemoryConsumption.Threshold != nil &&
			(a.Thresholds.MemoryConsumption <= 0 || a.Thresholds.MemoryConsumption >= 100) {
			p.add(t.MemoryConsumption.at("threshold"), "memoryConsumption threshold is a percentage in (0, 100)")
		}
		if t.LoadAverage != nil && t.LoadAverage.Threshold != nil && a.Thresholds.LoadAverage <= 0 {
			p.add(t.LoadAverage.at("threshold"), "loadAverage threshold must be positive")
		}
	}
	switch m := Mode(strings.TrimSpace(f.Mode.V)); m {
	case "":
	case ModeEnforce, ModeDryRun, ModeShadow:
		a.Mode = m
	default:
		p.add(f.Mode.Pos, "mode %q: want enforce, dry-run or shadow", f.Mode.V)
	}
	switch {
	case a.Mode == ModeShadow && a.ShadowOf == "":
		p.add(f.at("mode"), "a shadow policy needs shadowOf: the id of the enforced policy it runs beside")
	case a.Mode != ModeShadow && a.ShadowOf != "":
		p.add(f.ShadowOf.Pos, "shadowOf is only for mode: shadow")
	}
	names := map[string]bool{}
	for i := range f.Rules {
		fr := &f.Rules[i]
		r := Rule{Name: strings.TrimSpace(fr.Name.V), Source: fr.pos}
		if r.Name == "" {
			r.Name = fmt.Sprintf("rule-%d", i+1)
		} else if names[r.Name] {
			p.add(fr.Name.Pos, "duplicate rule name %q", r.Name)
		}
		names[r.Name] = true
		var src str
		var kind rules.Kind
		n := 0
		for _, c := range []struct {
			key  string
			s    str
			t    Target
			kind rules.Kind
		}{{"required", fr.Required, TargetRequired, rules.Number}, {"scaleUp", fr.ScaleUp, TargetScaleUp, rules.Bool}, {"scaleDown", fr.ScaleDown, TargetScaleDown, rules.Bool}} {
			if fr.has(c.key) {
				n++
				src, kind, r.Target = c.s, c.kind, c.t
			}
		}
		if n != 1 {
			p.add(fr.pos, "rule %s: give exactly one of required, scaleUp or scaleDown", r.Name)
			continue
		}
		r.Expr = src.V
		prog, err := rules.CompileExpr(src.V, kind)
		if err != nil {
			var ee *rules.ExprError
			if errors.As(err, &ee) {
				p.add(exprPos(src, ee), "rule %s: %s", r.Name, ee.Msg)
			} else {
				p.add(src.Pos, "rule %s: %v", r.Name, err)
			}
			continue
		}
		r.Program = prog
		a.Rules = append(a.Rules, r)
	}
	a.Behaviour = convertBehaviour(f.Behaviour, p)
	a.fp = fingerprintOf(a)
	return a
}

// exprPos maps a position inside an expression to the file.
func exprPos(s str, e *rules.ExprError) Pos {
	pos := s.Pos
	switch {
	case s.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		pos.Line += e.Line
		pos.Col = s.Indent + e.Column
	case e.Line == 1:
		pos.Col += e.Column - 1
		if s.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			pos.Col++
		}
	default:
		pos.Line += e.Line - 1
		pos.Col = e.Column
	}
	return pos
}

func convertBehaviour(f *fileBehaviour, p *problems) Behaviour {
	b := Behaviour{MissingMetrics: MissingMetrics{After: DefaultMissingAfter, Action: MissingHold}}
	if f == nil {
		return b
	}
	dir := func(d *fileDirection) Direction {
		if d == nil {
			return Direction{}
		}
		out := Direction{StabilizationWindow: d.StabilizationWindow}
		if d.MaxStep != nil {
			if *d.MaxStep < 1 {
				p.add(d.at("maxStep"), "maxStep must be at least 1 (leave it out for no cap)")
			}
			out.MaxStep = *d.MaxStep
		}
		return out
	}
	b.ScaleUp, b.ScaleDown = dir(f.ScaleUp), dir(f.ScaleDown)
	if f.Tolerance != nil {
		if *f.Tolerance < 0 || *f.Tolerance >= 1 {
			p.add(f.at("tolerance"), "tolerance is a fraction in [0, 1)")
		}
		b.Tolerance = *f.Tolerance
	}
	if m := f.MissingMetrics; m != nil {
		if m.has("after") {
			if m.After <= 0 {
				p.add(m.at("after"), "missingMetrics.after must be positive")
			}
			b.MissingMetrics.After = m.After
		}
		switch a := MissingAction(strings.TrimSpace(m.Action.V)); a {
		case "":
		case MissingHold, MissingFloor, MissingScaleOut:
			b.MissingMetrics.Action = a
		default:
			p.add(m.Action.Pos, "missingMetrics.action %q: want hold, floor or scale-out", m.Action.V)
		}
		act := b.MissingMetrics.Action
		switch {
		case act == MissingFloor && m.Floor == nil:
			p.add(m.pos, "missingMetrics: action floor needs floor")
		case act != MissingFloor && m.Floor != nil:
			p.add(m.at("floor"), "missingMetrics.floor is only for action floor")
		case m.Floor != nil && *m.Floor < 0:
			p.add(m.at("floor"), "missingMetrics.floor must not be negative")
		}
		if m.Floor != nil {
			b.MissingMetrics.Floor = *m.Floor
		}
		switch {
		case act != MissingScaleOut && m.Step != nil:
			p.add(m.at("step"), "missingMetrics.step is only for action scale-out")
		case m.Step != nil && *m.Step < 1:
			p.add(m.at("step"), "missingMetrics.step must be at least 1")
		}
		if act == MissingScaleOut {
			b.MissingMetrics.Step = 1
			if m.Step != nil {
				b.MissingMetrics.Step = *m.Step
			}
		}
	}
	return b
}

func convertNetworkPartition(f *fileNetworkPartition, p *problems) *NetworkPartition {
	n := &NetworkPartition{
		ID:         required(p, &f.meta, "id", f.ID, "network partition"),
		Provider:   required(p, &f.meta, "provider", f.Provider, "network partition"),
		IsPublic:   f.IsPublic,
		Properties: f.Properties.List,
		Source:     f.pos,
	}
	if len(f.Partitions) == 0 {
		p.add(f.at("partitions"), "network partition %s: at least one partition is required", n.ID)
	}
	seen := map[string]bool{}
	for i := range f.Partitions {
		fp := &f.Partitions[i]
		id := required(p, &fp.meta, "id", fp.ID, "partition")
		if seen[id] && id != "" {
			p.addIs(fp.ID.Pos, ErrDuplicate, "duplicate partition id %q in network partition %s", id, n.ID)
		}
		seen[id] = true
		props := fp.Properties.List
		if fp.has("property") {
			if fp.has("properties") {
				p.add(fp.at("property"), "give property or properties, not both")
			}
			props = fp.Property.List
		}
		n.Partitions = append(n.Partitions, Partition{ID: id, Description: fp.Description, IsPublic: fp.IsPublic, Properties: props})
	}
	n.fp = fingerprintOf(n)
	return n
}

func convertDeployment(f *fileDeployment, p *problems) *Deployment {
	d := &Deployment{ID: required(p, &f.meta, "id", f.ID, "deployment policy"), Source: f.pos, refs: map[string]Pos{}}
	if len(f.NetworkPartitions) == 0 {
		p.add(f.at("networkPartitions"), "deployment policy %s: at least one network partition is required", d.ID)
	}
	seenNP := map[string]bool{}
	for i := range f.NetworkPartitions {
		fn := &f.NetworkPartitions[i]
		np := DeploymentNetworkPartition{ID: required(p, &fn.meta, "id", fn.ID, "network partition reference"), Algorithm: OneAfterAnother}
		d.refs[refKey("np", i, 0)] = fn.ID.Pos
		if seenNP[np.ID] && np.ID != "" {
			p.addIs(fn.ID.Pos, ErrDuplicate, "network partition %s is listed twice", np.ID)
		}
		seenNP[np.ID] = true
		switch a := PartitionAlgorithm(strings.TrimSpace(fn.PartitionAlgo.V)); a {
		case "":
		case OneAfterAnother, RoundRobin:
			np.Algorithm = a
		default:
			p.add(fn.PartitionAlgo.Pos, "partitionAlgo %q: want one-after-another or round-robin", fn.PartitionAlgo.V)
		}
		if len(fn.Partitions) == 0 {
			p.add(fn.at("partitions"), "network partition %s: at least one partition is required", np.ID)
		}
		seen := map[string]bool{}
		for j := range fn.Partitions {
			fp := &fn.Partitions[j]
			dp := DeploymentPartition{ID: required(p, &fp.meta, "id", fp.ID, "partition reference")}
			d.refs[refKey("partition", i, j)] = fp.ID.Pos
			if seen[dp.ID] && dp.ID != "" {
				p.addIs(fp.ID.Pos, ErrDuplicate, "partition %s is listed twice", dp.ID)
			}
			seen[dp.ID] = true
			if fp.PartitionMax == nil {
				p.add(fp.pos, "partition %s: missing partitionMax", dp.ID)
			} else if dp.Max = *fp.PartitionMax; dp.Max < 0 {
				p.add(fp.at("partitionMax"), "partitionMax must not be negative")
			}
			np.Partitions = append(np.Partitions, dp)
		}
		d.NetworkPartitions = append(d.NetworkPartitions, np)
	}
	d.fp = fingerprintOf(d)
	return d
}

func convertApplication(f *fileApplication, p *problems) *Application {
	a := &Application{ID: required(p, &f.meta, "id", f.ID, "application policy"), Algorithm: OneAfterAnotherNP,
		Properties: f.Properties.List, Source: f.pos, refs: map[string]Pos{}}
	switch al := NetworkPartitionAlgorithm(strings.TrimSpace(f.Algorithm.V)); al {
	case "":
	case AllAtOnce, OneAfterAnotherNP:
		a.Algorithm = al
	default:
		p.add(f.Algorithm.Pos, "algorithm %q: want one-after-another or all-at-once", f.Algorithm.V)
	}
	if len(f.NetworkPartitions) == 0 {
		p.add(f.at("networkPartitions"), "application policy %s: at least one network partition is required", a.ID)
	}
	seen := map[string]bool{}
	for i, s := range f.NetworkPartitions {
		id := strings.TrimSpace(s.V)
		a.refs[refKey("np", i, 0)] = s.Pos
		switch {
		case id == "":
			p.add(s.Pos, "blank network partition id")
		case seen[id]:
			p.addIs(s.Pos, ErrDuplicate, "network partition %s is listed twice", id)
		}
		seen[id] = true
		a.NetworkPartitions = append(a.NetworkPartitions, id)
	}
	for _, pr := range a.Properties {
		if pr.Name != "networkPartitionGroups" {
			continue
		}
		for _, g := range strings.Split(pr.Value, ",") {
			var group []string
			for _, np := range strings.Split(g, "|") {
				if np = strings.TrimSpace(np); np != "" {
					group = append(group, np)
				}
			}
			if len(group) == 0 {
				p.add(f.Properties.Pos, "networkPartitionGroups %q has an empty group", pr.Value)
				continue
			}
			a.Groups = append(a.Groups, group)
		}
	}
	a.fp = fingerprintOf(a)
	return a
}

// refKey names a reference inside a policy, for refPos.
func refKey(what string, i, j int) string { return fmt.Sprintf("%s/%d/%d", what, i, j) }

func (a *Autoscaling) refPos(what string, i, j int) (Pos, bool) {
	p, ok := a.refs[refKey(what, i, j)]
	return p, ok
}
func (d *Deployment) refPos(what string, i, j int) (Pos, bool) {
	p, ok := d.refs[refKey(what, i, j)]
	return p, ok
}
func (a *Application) refPos(what string, i, j int) (Pos, bool) {
	p, ok := a.refs[refKey(what, i, j)]
	return p, ok
}
