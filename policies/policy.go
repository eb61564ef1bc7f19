package policies

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

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
