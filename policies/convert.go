package policies

import (
	"errors"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/strata-paas/strata/rules"
)

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
