package policies

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/strata-paas/strata/internal/model"
)

// Application definitions in YAML (kind: Application): Strata's own form of a Stratos application
// (docs/stratos-wire.md §5.6, §5.7) with its cartridge groups written inline: cartridges and nested
// groups, startup orders, scaling dependents and termination behaviour. They are not policies: the
// platform does not deploy them from the directory. `strata policy check` checks them (alone when
// the directory loads, against the directory's policies with the fixtures), and a fixture can
// drive one of their clusters (application and alias instead of policies and cluster).
//
//	kind: Application
//	id: shop
//	deploymentPolicy: web-deployment       # for every cartridge that names none (groups may too)
//	cartridges:
//	  - {alias: lb, type: stratos-lb, min: 1, max: 1, autoscalingPolicy: web}
//	groups:
//	  - alias: backend
//	    groupMinInstances: 1
//	    groupMaxInstances: 2
//	    cartridges:
//	      - {alias: php, type: php, min: 1, max: 5, autoscalingPolicy: web}
//	      - {alias: db, type: mysql, min: 1, max: 1, autoscalingPolicy: web}
//	    dependencies:
//	      startupOrders: [[cartridge.db, cartridge.php]]
//	      scalingDependents: [[cartridge.php, cartridge.db]]
//	      terminationBehaviour: terminate-dependents
//	dependencies:
//	  startupOrders: [[cartridge.lb, group.backend]]

// KindAppDefinition is the kind of an application definition document.
const KindAppDefinition Kind = "Application"

// AppDefinition is a decoded application definition.
type AppDefinition struct {
	ID string
	AppComponent
	Source Pos
}

// AppComponent is what an application and its groups hold.
type AppComponent struct {
	Cartridges   []AppCartridge
	Groups       []AppGroup
	Dependencies AppDependencies
}

// AppCartridge is one cartridge (one cluster) of an application.
type AppCartridge struct {
	Alias, Type                         string
	Min, Max                            int
	AutoscalingPolicy, DeploymentPolicy string // DeploymentPolicy: its own or the nearest enclosing one
	Source                              Pos
	asAt, dpAt                          Pos // where the policies are named
}

// AppGroup is a group of an application.
type AppGroup struct {
	Alias                                string
	GroupMinInstances, GroupMaxInstances int
	AppComponent
	Source Pos
}

// AppDependencies are the startup orders, scaling dependents and termination behaviour of the
// children of a component ("cartridge.<alias>" or "group.<alias>").
type AppDependencies struct {
	StartupOrders        [][]string
	ScalingDependents    [][]string
	TerminationBehaviour string
}

type fileApp struct {
	meta
	Kind             string             `yaml:"kind"`
	ID               str                `yaml:"id"`
	DeploymentPolicy str                `yaml:"deploymentPolicy"`
	Cartridges       []fileAppCartridge `yaml:"cartridges"`
	Groups           []fileAppGroup     `yaml:"groups"`
	Dependencies     *fileAppDeps       `yaml:"dependencies"`
}

type fileAppCartridge struct {
	meta
	Alias             str `yaml:"alias"`
	Type              str `yaml:"type"`
	Min               int `yaml:"min"`
	Max               int `yaml:"max"`
	AutoscalingPolicy str `yaml:"autoscalingPolicy"`
	DeploymentPolicy  str `yaml:"deploymentPolicy"`
}

type fileAppGroup struct {
	meta
	Alias             str                `yaml:"alias"`
	GroupMinInstances int                `yaml:"groupMinInstances"`
	GroupMaxInstances int                `yaml:"groupMaxInstances"`
	DeploymentPolicy  str                `yaml:"deploymentPolicy"`
	Cartridges        []fileAppCartridge `yaml:"cartridges"`
	Groups            []fileAppGroup     `yaml:"groups"`
	Dependencies      *fileAppDeps       `yaml:"dependencies"`
}

type fileAppDeps struct {
	meta
	StartupOrders        [][]str `yaml:"startupOrders"`
	ScalingDependents    [][]str `yaml:"scalingDependents"`
	TerminationBehaviour str     `yaml:"terminationBehaviour"`
}

// convertApp turns a decoded application definition into an AppDefinition and checks it alone:
// ids and aliases, sizes, unique aliases, and that every alias of a startup order or scaling
// dependents names a child of its component.
func convertApp(f *fileApp, p *problems) *AppDefinition {
	a := &AppDefinition{ID: required(p, &f.meta, "id", f.ID, "application"), Source: f.pos}
	if a.ID != "" && !model.ValidName(a.ID) {
		p.add(f.ID.Pos, "application id %q: must be 1-128 letters, digits, '.', '_' or '-'", a.ID)
	}
	seen := map[string]Pos{}
	alias := func(m *meta, s str, what string) string {
		v := required(p, m, "alias", s, what)
		if v == "" {
			return v
		}
		if !model.ValidName(v) {
			p.add(s.Pos, "%s alias %q: must be 1-128 letters, digits, '.', '_' or '-'", what, v)
		}
		if first, dup := seen[v]; dup {
			p.add(s.Pos, "application %s: alias %q is used twice (first at %s)", a.ID, v, first)
		}
		seen[v] = s.Pos
		return v
	}
	var component func(cartridges []fileAppCartridge, groups []fileAppGroup, deps *fileAppDeps, policy str) AppComponent
	component = func(cartridges []fileAppCartridge, groups []fileAppGroup, deps *fileAppDeps, policy str) AppComponent {
		var c AppComponent
		children := map[string]bool{}
		for i := range cartridges {
			fct := &cartridges[i]
			ct := AppCartridge{Alias: alias(&fct.meta, fct.Alias, "cartridge"), Type: required(p, &fct.meta, "type", fct.Type, "cartridge"),
				Min: fct.Min, Max: fct.Max, AutoscalingPolicy: required(p, &fct.meta, "autoscalingPolicy", fct.AutoscalingPolicy, "cartridge"),
				DeploymentPolicy: strings.TrimSpace(fct.DeploymentPolicy.V), Source: fct.pos,
				asAt: fct.at("autoscalingPolicy"), dpAt: fct.at("deploymentPolicy")}
			if ct.DeploymentPolicy == "" {
				ct.DeploymentPolicy, ct.dpAt = policy.V, policy.Pos
			}
			if ct.DeploymentPolicy == "" {
				p.add(fct.pos, "cartridge %s: missing deploymentPolicy (here, on a group or on the application)", ct.Alias)
			}
			if !fct.has("max") {
				ct.Max = ct.Min
			}
			if ct.Min < 0 || ct.Max < ct.Min {
				p.add(fct.at("max"), "cartridge %s: want 0 <= min <= max", ct.Alias)
			}
			children["cartridge."+ct.Alias] = true
			c.Cartridges = append(c.Cartridges, ct)
		}
		for i := range groups {
			fg := &groups[i]
			g := AppGroup{Alias: alias(&fg.meta, fg.Alias, "group"), GroupMinInstances: fg.GroupMinInstances, GroupMaxInstances: fg.GroupMaxInstances, Source: fg.pos}
			if !fg.has("groupMinInstances") {
				g.GroupMinInstances = 1
			}
			if !fg.has("groupMaxInstances") {
				g.GroupMaxInstances = g.GroupMinInstances
			}
			if g.GroupMinInstances < 1 || g.GroupMaxInstances < g.GroupMinInstances {
				p.add(fg.at("groupMaxInstances"), "group %s: want 1 <= groupMinInstances <= groupMaxInstances", g.Alias)
			}
			gp := policy
			if v := strings.TrimSpace(fg.DeploymentPolicy.V); v != "" {
				gp = str{V: v, Pos: fg.DeploymentPolicy.Pos}
			}
			g.AppComponent = component(fg.Cartridges, fg.Groups, fg.Dependencies, gp)
			if len(g.Cartridges) == 0 && len(g.Groups) == 0 {
				p.add(fg.pos, "group %s: needs cartridges or groups", g.Alias)
			}
			children["group."+g.Alias] = true
			c.Groups = append(c.Groups, g)
		}
		if d := deps; d != nil {
			lists := func(in [][]str, what string) [][]string {
				var out [][]string
				for _, l := range in {
					var names []string
					for _, s := range l {
						v := strings.TrimSpace(s.V)
						if !children[v] {
							p.add(s.Pos, "The %s defined in the [application] %s is not correct. [%s-alias] %s is not there in the application.", what, a.ID, what, v)
						}
						names = append(names, v)
					}
					out = append(out, names)
				}
				return out
			}
			c.Dependencies = AppDependencies{StartupOrders: lists(d.StartupOrders, "startup-order"),
				ScalingDependents: lists(d.ScalingDependents, "scaling-dependent"), TerminationBehaviour: strings.TrimSpace(d.TerminationBehaviour.V)}
			switch c.Dependencies.TerminationBehaviour {
			case "", "terminate-all", "terminate-none", "terminate-dependents":
			default:
				p.add(d.at("terminationBehaviour"), "terminationBehaviour %q: want terminate-all, terminate-none or terminate-dependents", d.TerminationBehaviour.V)
			}
		}
		return c
	}
	a.AppComponent = component(f.Cartridges, f.Groups, f.Dependencies, str{V: strings.TrimSpace(f.DeploymentPolicy.V), Pos: f.DeploymentPolicy.Pos})
	if len(a.Cartridges) == 0 && len(a.Groups) == 0 {
		p.add(f.pos, "application %s: needs cartridges or groups", a.ID)
	}
	return a
}

// EachCartridge calls fn for every cartridge of the application at any depth.
func (a *AppDefinition) EachCartridge(fn func(c *AppCartridge)) {
	var walk func(c *AppComponent)
	walk = func(c *AppComponent) {
		for i := range c.Cartridges {
			fn(&c.Cartridges[i])
		}
		for i := range c.Groups {
			walk(&c.Groups[i].AppComponent)
		}
	}
	walk(&a.AppComponent)
}

// Cartridge finds a cartridge of the application by alias.
func (a *AppDefinition) Cartridge(alias string) (*AppCartridge, bool) {
	var found *AppCartridge
	a.EachCartridge(func(c *AppCartridge) {
		if c.Alias == alias {
			found = c
		}
	})
	return found, found != nil
}

// checkApp checks the policies an application names against set.
func checkApp(a *AppDefinition, set *Set, p *problems) {
	a.EachCartridge(func(c *AppCartridge) {
		if _, ok := set.Autoscaling(c.AutoscalingPolicy); c.AutoscalingPolicy != "" && !ok {
			p.addIs(c.asAt, ErrNotFound, "application %s: cartridge %s: autoscaling policy %q does not exist", a.ID, c.Alias, c.AutoscalingPolicy)
		}
		if _, ok := set.Deployment(c.DeploymentPolicy); c.DeploymentPolicy != "" && !ok {
			p.addIs(c.dpAt, ErrNotFound, "application %s: cartridge %s: deployment policy %q does not exist", a.ID, c.Alias, c.DeploymentPolicy)
		}
	})
}

// kindNode is the value of a YAML document's kind, or nil when it has none.
func kindNode(root *yaml.Node) *yaml.Node {
	if root.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "kind" {
			return root.Content[i+1]
		}
	}
	return nil
}

// LoadApps decodes the application definitions of dir's YAML files and checks them against set
// (nil: alone). It returns them by id with every problem.
func LoadApps(dir string, set *Set) (map[string]*AppDefinition, error) {
	files, err := policyFiles(dir)
	if err != nil {
		return nil, err
	}
	var pr problems
	out := map[string]*AppDefinition{}
	for _, f := range files {
		if fileKind(filepath.Base(f)) != "yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("load applications: %w", err)
		}
		d := &decoder{file: f, lines: strings.Split(string(data), "\n"), p: &pr}
		for _, root := range yamlDocs(f, data, &pr) {
			if k := kindNode(root); k == nil || k.Value != string(KindAppDefinition) {
				continue
			}
			d.nodes = 0
			var fa fileApp
			d.decode(root, reflect.ValueOf(&fa).Elem())
			a := convertApp(&fa, &pr)
			if first, dup := out[a.ID]; dup && a.ID != "" {
				pr.addIs(a.Source, ErrDuplicate, "duplicate application id %q (first at %s)", a.ID, first.Source)
				continue
			}
			if set != nil {
				checkApp(a, set, &pr)
			}
			out[a.ID] = a
		}
	}
	if err := pr.err(); err != nil {
		return nil, err
	}
	return out, nil
}
