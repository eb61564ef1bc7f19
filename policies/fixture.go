package policies

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/strata-paas/strata/internal/model"
)

// Fixtures: the input of `strata policy test DIR`. A fixture file is named *_test.yaml (or
// .yml) and holds one or more documents, each a time series of summaries and topology for one
// cluster instance and the decisions expected at each step. The autoscaler runs them; this package
// only decodes and checks them against the Set. Example:
//
//	name: a burst of requests scales up by two
//	autoscalingPolicy: web
//	deploymentPolicy: web-deployment
//	cluster: {clusterId: php.cluster, clusterInstanceId: php-1, networkPartitionId: np-1,
//	          tenantId: t1, cartridge: php, minMembers: 1, maxMembers: 5}
//	members:                      # the topology at the start, per partition
//	  - {partition: p1, active: 2}
//	steps:
//	  - at: 0s                     # offset from the fixture's start
//	    summaries:
//	      - {kind: AverageRequestsInFlight, value: 55}
//	      - {kind: GradientOfRequestsInFlight, value: 0}
//	      - {kind: SecondDerivativeOfRequestsInFlight, value: 0}
//	      - {kind: MemberAverageLoadAverage, member: m1, value: 20}
//	    expect: {action: scale-up, delta: 1, required: 3}
//	  - at: 90s
//	    members: [{partition: p1, active: 3}]   # topology changes before this step
//	    expect: {action: none}

// Fixture is one decoded fixture document.
type Fixture struct {
	Name              string
	AutoscalingPolicy string
	DeploymentPolicy  string
	Cluster           FixtureCluster
	Members           []FixtureMembers
	Steps             []FixtureStep
	Source            Pos
}

// FixtureCluster is the cluster instance a fixture drives.
type FixtureCluster struct {
	ClusterID          string
	ClusterInstanceID  string
	NetworkPartitionID string
	ApplicationID      string
	TenantID           string
	Cartridge          string
	MinMembers         int
	MaxMembers         int
}

// FixtureMembers is the member count by state in one partition.
type FixtureMembers struct {
	Partition          string
	Active             int
	Pending            int
	TerminationPending int
	Obsolete           int
}

// FixtureStep is one monitor round: topology changes, then summaries, then the decision.
type FixtureStep struct {
	At        time.Duration
	Members   []FixtureMembers // replaces the counts of the partitions it names
	Summaries []model.Summary
	Expect    *Expectation // nil: nothing is checked at this step
	Source    Pos
}

// Expectation is what a step's decision must be. Zero fields are not checked, except Action.
type Expectation struct {
	Action         string // "scale-up", "scale-down", "none", ...; required
	Delta          *int
	Required       *int
	Denied         *bool
	ReasonContains string
	Source         Pos
}

type fileFixture struct {
	meta
	Name              str                  `yaml:"name"`
	Application       str                  `yaml:"application"`
	Alias             str                  `yaml:"alias"`
	AutoscalingPolicy str                  `yaml:"autoscalingPolicy"`
	DeploymentPolicy  str                  `yaml:"deploymentPolicy"`
	Cluster           *fileFixtureCluster  `yaml:"cluster"`
	Members           []fileFixtureMembers `yaml:"members"`
	Steps             []fileFixtureStep    `yaml:"steps"`
}

type fileFixtureCluster struct {
	meta
	ClusterID          string `yaml:"clusterId"`
	ClusterInstanceID  string `yaml:"clusterInstanceId"`
	NetworkPartitionID string `yaml:"networkPartitionId"`
	ApplicationID      string `yaml:"applicationId"`
	TenantID           string `yaml:"tenantId"`
	Cartridge          string `yaml:"cartridge"`
	MinMembers         int    `yaml:"minMembers"`
	MaxMembers         int    `yaml:"maxMembers"`
}

type fileFixtureMembers struct {
	meta
	Partition          str `yaml:"partition"`
	Active             int `yaml:"active"`
	Pending            int `yaml:"pending"`
	TerminationPending int `yaml:"terminationPending"`
	Obsolete           int `yaml:"obsolete"`
}

type fileFixtureStep struct {
	meta
	At        time.Duration        `yaml:"at"`
	Members   []fileFixtureMembers `yaml:"members"`
	Summaries []fileFixtureSummary `yaml:"summaries"`
	Expect    *fileFixtureExpect   `yaml:"expect"`
}

type fileFixtureSummary struct {
	meta
	Kind      str     `yaml:"kind"`
	Member    string  `yaml:"member"`
	Partition string  `yaml:"partition"`
	Value     float64 `yaml:"value"`
}

type fileFixtureExpect struct {
	meta
	Action         str    `yaml:"action"`
	Delta          *int   `yaml:"delta"`
	Required       *int   `yaml:"required"`
	Denied         *bool  `yaml:"denied"`
	ReasonContains string `yaml:"reasonContains"`
}

// LoadFixtures decodes every fixture file under dir and checks each against set: the policies it
// names must exist, and the partitions it names must be in its deployment policy. It returns
// every problem with file:line:col.
func LoadFixtures(dir string, set *Set) ([]Fixture, error) {
	files, err := fixtureFiles(dir)
	if err != nil {
		return nil, err
	}
	apps, err := LoadApps(dir, set)
	if err != nil {
		return nil, err
	}
	var pr problems
	var out []Fixture
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("load fixtures: %w", err)
		}
		out = append(out, decodeFixtures(f, data, set, apps, &pr)...)
	}
	if err := pr.err(); err != nil {
		return nil, err
	}
	return out, nil
}

func fixtureFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && fileKind(d.Name()) == "fixture" {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load fixtures: %w", err)
	}
	return out, nil
}

// DecodeFixtures decodes the fixture documents of one file; set, if not nil, is used to check
// the references.
func DecodeFixtures(file string, data []byte, set *Set) ([]Fixture, error) {
	var pr problems
	out := decodeFixtures(file, data, set, nil, &pr)
	if err := pr.err(); err != nil {
		return nil, err
	}
	return out, nil
}

func decodeFixtures(file string, data []byte, set *Set, apps map[string]*AppDefinition, pr *problems) []Fixture {
	d := &decoder{file: file, p: pr}
	var out []Fixture
	for _, root := range yamlDocs(file, data, pr) {
		d.nodes = 0
		var f fileFixture
		d.decode(root, reflect.ValueOf(&f).Elem())
		if root.Kind == yaml.MappingNode {
			if fromApp(&f, apps, pr) {
				out = append(out, convertFixture(&f, set, pr))
			}
		}
	}
	return out
}

func convertFixture(f *fileFixture, set *Set, p *problems) Fixture {
	fx := Fixture{
		Name:              required(p, &f.meta, "name", f.Name, "fixture"),
		AutoscalingPolicy: required(p, &f.meta, "autoscalingPolicy", f.AutoscalingPolicy, "fixture"),
		DeploymentPolicy:  strings.TrimSpace(f.DeploymentPolicy.V),
		Source:            f.pos,
	}
	var dep *Deployment
	if set != nil && fx.AutoscalingPolicy != "" {
		if _, ok := set.Autoscaling(fx.AutoscalingPolicy); !ok {
			p.addIs(f.AutoscalingPolicy.Pos, ErrNotFound, "fixture %s: autoscaling policy %q does not exist", fx.Name, fx.AutoscalingPolicy)
		}
	}
	if set != nil && fx.DeploymentPolicy != "" {
		var ok bool
		if dep, ok = set.Deployment(fx.DeploymentPolicy); !ok {
			p.addIs(f.DeploymentPolicy.Pos, ErrNotFound, "fixture %s: deployment policy %q does not exist", fx.Name, fx.DeploymentPolicy)
		}
	}
	if c := f.Cluster; c == nil {
		p.add(f.pos, "fixture %s: missing cluster", fx.Name)
	} else {
		fx.Cluster = FixtureCluster{ClusterID: c.ClusterID, ClusterInstanceID: c.ClusterInstanceID,
			NetworkPartitionID: c.NetworkPartitionID, ApplicationID: c.ApplicationID, TenantID: c.TenantID,
			Cartridge: c.Cartridge, MinMembers: c.MinMembers, MaxMembers: c.MaxMembers}
		if c.ClusterID == "" {
			p.add(c.pos, "fixture %s: missing cluster.clusterId", fx.Name)
		}
		if c.MinMembers < 0 || c.MaxMembers < c.MinMembers {
			p.add(c.at("maxMembers"), "fixture %s: want 0 <= minMembers <= maxMembers", fx.Name)
		}
	}
	members := func(list []fileFixtureMembers) []FixtureMembers {
		var out []FixtureMembers
		for _, m := range list {
			id := required(p, &m.meta, "partition", m.Partition, "fixture members")
			if dep != nil && id != "" && !deploymentHas(dep, fx.Cluster.NetworkPartitionID, id) {
				p.addIs(m.Partition.Pos, ErrNotFound, "fixture %s: partition %q is not in deployment policy %s", fx.Name, id, dep.ID)
			}
			if m.Active < 0 || m.Pending < 0 || m.TerminationPending < 0 || m.Obsolete < 0 {
				p.add(m.pos, "fixture %s: member counts must not be negative", fx.Name)
			}
			out = append(out, FixtureMembers{Partition: id, Active: m.Active, Pending: m.Pending,
				TerminationPending: m.TerminationPending, Obsolete: m.Obsolete})
		}
		return out
	}
	fx.Members = members(f.Members)
	if len(f.Steps) == 0 {
		p.add(f.at("steps"), "fixture %s: no steps", fx.Name)
	}
	var last time.Duration = -1
	for _, fs := range f.Steps {
		st := FixtureStep{At: fs.At, Members: members(fs.Members), Source: fs.pos}
		if fs.At <= last {
			p.add(fs.at("at"), "fixture %s: steps must be in increasing time", fx.Name)
		}
		last = fs.At
		for _, s := range fs.Summaries {
			name := strings.TrimSpace(s.Kind.V)
			k, ok := model.SummaryKindOf("health.stat." + strings.TrimSuffix(name, "Event") + "Event")
			if !ok {
				p.add(s.at("kind"), "unknown summary kind %q (e.g. AverageRequestsInFlight, MemberAverageLoadAverage)", name)
				continue
			}
			if k.MemberLevel() && s.Member == "" {
				p.add(s.pos, "summary %s needs member", name)
			}
			st.Summaries = append(st.Summaries, model.Summary{Kind: k, ClusterID: fx.Cluster.ClusterID,
				ClusterInstanceID: fx.Cluster.ClusterInstanceID, NetworkPartitionID: fx.Cluster.NetworkPartitionID,
				MemberID: s.Member, PartitionID: s.Partition, Value: s.Value, Timestamp: fs.At.Milliseconds()})
		}
		if e := fs.Expect; e != nil {
			st.Expect = &Expectation{Action: required(p, &e.meta, "action", e.Action, "expect"), Delta: e.Delta,
				Required: e.Required, Denied: e.Denied, ReasonContains: e.ReasonContains, Source: e.pos}
		}
		fx.Steps = append(fx.Steps, st)
	}
	return fx
}

// fromApp fills a fixture that names an application and a cartridge alias instead of policies
// and a cluster: the cartridge's autoscaling and deployment policies, and a cluster with its id,
// type, min and max (the first network partition of the deployment policy unless the fixture's
// cluster names one). It reports false when the fixture cannot be used.
func fromApp(f *fileFixture, apps map[string]*AppDefinition, p *problems) bool {
	app := strings.TrimSpace(f.Application.V)
	if app == "" {
		if f.has("alias") {
			p.add(f.at("alias"), "fixture: alias needs application")
			return false
		}
		return true
	}
	if f.has("autoscalingPolicy") || f.has("deploymentPolicy") {
		p.add(f.at("application"), "fixture: application takes the policies from the application: leave out autoscalingPolicy and deploymentPolicy")
		return false
	}
	a, ok := apps[app]
	if !ok {
		p.addIs(f.Application.Pos, ErrNotFound, "fixture: application %q is not defined in the directory", app)
		return false
	}
	alias := required(p, &f.meta, "alias", f.Alias, "fixture")
	c, ok := a.Cartridge(alias)
	if !ok {
		if alias != "" {
			p.addIs(f.Alias.Pos, ErrNotFound, "fixture: application %s has no cartridge alias %q", app, alias)
		}
		return false
	}
	f.AutoscalingPolicy = str{V: c.AutoscalingPolicy, Pos: f.Alias.Pos}
	f.DeploymentPolicy = str{V: c.DeploymentPolicy, Pos: f.Alias.Pos}
	if f.Cluster == nil {
		f.Cluster = &fileFixtureCluster{meta: meta{pos: f.Alias.Pos}}
	}
	fc := f.Cluster
	if fc.ClusterID == "" {
		fc.ClusterID = model.ClusterID(app, alias, c.Type)
	}
	if fc.ClusterInstanceID == "" {
		fc.ClusterInstanceID = model.InstanceID(app, 1)
	}
	fc.ApplicationID, fc.Cartridge = app, c.Type
	if !fc.has("minMembers") {
		fc.MinMembers = c.Min
	}
	if !fc.has("maxMembers") {
		fc.MaxMembers = c.Max
	}
	return true
}

func deploymentHas(d *Deployment, np, partition string) bool {
	for _, n := range d.NetworkPartitions {
		if np != "" && n.ID != np {
			continue
		}
		for _, p := range n.Partitions {
			if p.ID == partition {
				return true
			}
		}
	}
	return false
}
