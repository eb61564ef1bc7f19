package demo

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// The demo's cluster: one application "demo" with the cartridge under the alias "web".
const (
	demoApp      = "demo"
	demoAlias    = "web"
	demoInstance = "web-1"
	demoMin      = 1
	demoMax      = 4
)

// Wave is one phase of the load: for D, Workers requests are kept in flight.
type Wave struct {
	Name    string // "low" or "high"
	D       time.Duration
	Workers int
}

// plan is the demo's files, read and checked before anything is created.
type plan struct {
	cartridge  model.Cartridge
	set        *policies.Set
	np         model.NetworkPartition
	autoscale  string
	deployment string
	proxyPort  int
	waves      []Wave
}

// loadPlan reads the cartridge and the policies under o.Dir, with o's port overrides.
func loadPlan(o Options) (*plan, error) {
	var p plan
	path := filepath.Join(o.Dir, "cartridge.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--demo-dir: %w (run from the repository root or pass --demo-dir)", err)
	}
	if err := json.Unmarshal(b, &p.cartridge); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ct := &p.cartridge
	if len(ct.PortMapping) != 1 {
		return nil, fmt.Errorf("%s: the demo cartridge needs exactly one port mapping", path)
	}
	if o.Port != 0 {
		ct.PortMapping[0].Port = model.Int(o.Port)
	}
	if o.ProxyPort != 0 {
		ct.PortMapping[0].ProxyPort = model.Int(o.ProxyPort)
	}
	p.proxyPort = int(ct.PortMapping[0].ProxyPort)
	if err := ct.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if p.set, err = policies.LoadDir(filepath.Join(o.Dir, "policies")); err != nil {
		return nil, err
	}
	as, dps := p.set.AutoscalingPolicies(), p.set.DeploymentPolicies()
	if len(as) != 1 || len(dps) != 1 || len(dps[0].NetworkPartitions) != 1 {
		return nil, fmt.Errorf("%s: want one autoscaling policy and one deployment policy with one network partition", filepath.Join(o.Dir, "policies"))
	}
	p.autoscale, p.deployment = as[0].ID, dps[0].ID
	np, ok := p.set.NetworkPartition(dps[0].NetworkPartitions[0].ID)
	if !ok {
		return nil, fmt.Errorf("network partition %s of %s: not found", dps[0].NetworkPartitions[0].ID, p.deployment)
	}
	p.np = model.NetworkPartition{ID: np.ID, Provider: np.Provider}
	for _, pp := range np.Properties {
		p.np.Properties = append(p.np.Properties, model.NameValue{Name: pp.Name, Value: model.String(pp.Value)})
	}
	for _, part := range np.Partitions {
		mp := model.Partition{ID: part.ID, Description: part.Description}
		for _, pp := range part.Properties {
			mp.Property = append(mp.Property, model.NameValue{Name: pp.Name, Value: model.String(pp.Value)})
		}
		p.np.Partitions = append(p.np.Partitions, mp)
	}
	if len(o.Waves) == 0 {
		return nil, fmt.Errorf("demo: no load waves")
	}
	p.waves = o.Waves
	return &p, nil
}

// ParseWaves reads the --demo-waves "low,high,low" durations and the --demo-workers "low,high"
// worker counts into the demo's three waves.
func ParseWaves(waves, workers string) ([]Wave, error) {
	ds := strings.Split(waves, ",")
	if len(ds) != 3 {
		return nil, fmt.Errorf("--demo-waves %q: want three durations (low, high, low)", waves)
	}
	ws := strings.Split(workers, ",")
	if len(ws) != 2 {
		return nil, fmt.Errorf("--demo-workers %q: want two counts (low, high)", workers)
	}
	var n [2]int
	for i, w := range ws {
		v, err := strconv.Atoi(strings.TrimSpace(w))
		if err != nil || v < 0 || v > 1000 {
			return nil, fmt.Errorf("--demo-workers %q: want counts from 0 to 1000", workers)
		}
		n[i] = v
	}
	out := make([]Wave, 3)
	for i, s := range ds {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("--demo-waves %q: want three positive durations", waves)
		}
		out[i] = Wave{Name: "low", D: d, Workers: n[0]}
		if i == 1 {
			out[i] = Wave{Name: "high", D: d, Workers: n[1]}
		}
	}
	return out, nil
}

func describeWaves(ws []Wave) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = fmt.Sprintf("%s %s (%d workers)", w.Name, w.D, w.Workers)
	}
	return strings.Join(parts, ", ")
}

// SampleInterval is the interval at which the demo's members report health and the load
// balancer publishes requests in flight: five samples per CEP window (the CEP needs three for a
// second derivative), at least 200 ms.
func SampleInterval(window time.Duration) time.Duration {
	return max(window/5, 200*time.Millisecond)
}
