package policies

import (
	"encoding/json"
	"fmt"
)

// EncodeStratosJSON writes a policy in Stratos' REST JSON shape (docs/stratos-wire.md §5.1-§5.4), for
// the REST API's GET endpoints: the keys Stratos clients know, numbers as numbers, lists as
// arrays even with one element. Strata's extensions of an autoscaling policy (mode, shadowOf,
// rules, behaviour) are included when set; DecodeStratosJSON reads them back.
func EncodeStratosJSON(p Policy) ([]byte, error) {
	var v any
	switch x := p.(type) {
	case *Autoscaling:
		type threshold struct {
			Threshold float64 `json:"threshold"`
		}
		type rule struct {
			Name      string `json:"name"`
			Required  string `json:"required,omitempty"`
			ScaleUp   string `json:"scaleUp,omitempty"`
			ScaleDown string `json:"scaleDown,omitempty"`
		}
		type direction struct {
			StabilizationWindow string `json:"stabilizationWindow,omitempty"`
			MaxStep             int    `json:"maxStep,omitempty"`
		}
		type missing struct {
			After  string `json:"after"`
			Action string `json:"action"`
			Floor  *int   `json:"floor,omitempty"`
			Step   *int   `json:"step,omitempty"`
		}
		type behaviour struct {
			ScaleUp        *direction `json:"scaleUp,omitempty"`
			ScaleDown      *direction `json:"scaleDown,omitempty"`
			Tolerance      float64    `json:"tolerance,omitempty"`
			MissingMetrics missing    `json:"missingMetrics"`
		}
		dir := func(d Direction) *direction {
			if d == (Direction{}) {
				return nil
			}
			out := &direction{MaxStep: d.MaxStep}
			if d.StabilizationWindow > 0 {
				out.StabilizationWindow = d.StabilizationWindow.String()
			}
			return out
		}
		mm := missing{After: x.Behaviour.MissingMetrics.After.String(), Action: string(x.Behaviour.MissingMetrics.Action)}
		switch x.Behaviour.MissingMetrics.Action {
		case MissingFloor:
			mm.Floor = &x.Behaviour.MissingMetrics.Floor
		case MissingScaleOut:
			mm.Step = &x.Behaviour.MissingMetrics.Step
		}
		out := struct {
			ID                     string  `json:"id"`
			DisplayName            string  `json:"displayName,omitempty"`
			Description            string  `json:"description,omitempty"`
			IsPublic               bool    `json:"isPublic"`
			TenantID               int     `json:"tenantId,omitempty"`
			InstanceRoundingFactor float64 `json:"instanceRoundingFactor,omitempty"`
			LoadThresholds         struct {
				RequestsInFlight  threshold `json:"requestsInFlight"`
				MemoryConsumption threshold `json:"memoryConsumption"`
				LoadAverage       threshold `json:"loadAverage"`
			} `json:"loadThresholds"`
			Mode      Mode      `json:"mode,omitempty"`
			ShadowOf  string    `json:"shadowOf,omitempty"`
			Rules     []rule    `json:"rules,omitempty"`
			Behaviour behaviour `json:"behaviour"`
		}{ID: x.ID, DisplayName: x.DisplayName, Description: x.Description, IsPublic: x.IsPublic, TenantID: x.TenantID,
			InstanceRoundingFactor: x.InstanceRoundingFactor, Mode: x.Mode, ShadowOf: x.ShadowOf,
			Behaviour: behaviour{ScaleUp: dir(x.Behaviour.ScaleUp), ScaleDown: dir(x.Behaviour.ScaleDown),
				Tolerance: x.Behaviour.Tolerance, MissingMetrics: mm}}
		out.LoadThresholds.RequestsInFlight.Threshold = x.Thresholds.RequestsInFlight
		out.LoadThresholds.MemoryConsumption.Threshold = x.Thresholds.MemoryConsumption
		out.LoadThresholds.LoadAverage.Threshold = x.Thresholds.LoadAverage
		for _, r := range x.Rules {
			fr := rule{Name: r.Name}
			switch r.Target {
			case TargetRequired:
				fr.Required = r.Expr
			case TargetScaleUp:
				fr.ScaleUp = r.Expr
			case TargetScaleDown:
				fr.ScaleDown = r.Expr
			}
			out.Rules = append(out.Rules, fr)
		}
		v = out
	case *NetworkPartition:
		type partition struct {
			ID          string     `json:"id"`
			Description string     `json:"description,omitempty"`
			IsPublic    bool       `json:"isPublic,omitempty"`
			Property    []Property `json:"property"`
		}
		out := struct {
			ID         string      `json:"id"`
			Provider   string      `json:"provider"`
			IsPublic   bool        `json:"isPublic,omitempty"`
			Partitions []partition `json:"partitions"`
			Properties []Property  `json:"properties"`
		}{ID: x.ID, Provider: x.Provider, IsPublic: x.IsPublic, Properties: nonNil(x.Properties)}
		for _, pt := range x.Partitions {
			out.Partitions = append(out.Partitions, partition{ID: pt.ID, Description: pt.Description, IsPublic: pt.IsPublic, Property: nonNil(pt.Properties)})
		}
		v = out
	case *Deployment:
		v = x // its JSON tags are Stratos' keys
	case *Application:
		v = struct {
			ID                string     `json:"id"`
			Algorithm         string     `json:"algorithm"`
			NetworkPartitions []string   `json:"networkPartitions"`
			Properties        []Property `json:"properties"`
		}{x.ID, string(x.Algorithm), x.NetworkPartitions, nonNil(x.Properties)}
	default:
		return nil, fmt.Errorf("%w: no Stratos JSON form for %T", ErrInvalid, p)
	}
	return json.MarshalIndent(v, "", "  ")
}

func nonNil(p []Property) []Property {
	if p == nil {
		return []Property{}
	}
	return p
}
