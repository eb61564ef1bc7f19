package autoscaler

import (
	"testing"

	"github.com/strata-paas/strata/policies"
)

func TestPredict(t *testing.T) {
	tests := []struct {
		name          string
		avg, grad, sd float64
		want          float64
	}{
		{name: "flat", avg: 50, want: 50},
		{name: "rising", avg: 50, grad: 2, sd: 4, want: 54},
		{name: "falling", avg: 50, grad: -10, sd: -2, want: 39},
	}
	for _, tt := range tests {
		if got := Predict(tt.avg, tt.grad, tt.sd); got != tt.want {
			t.Errorf("%s: Predict(%v, %v, %v) = %v, want %v", tt.name, tt.avg, tt.grad, tt.sd, got, tt.want)
		}
	}
}

func TestRequired(t *testing.T) {
	tests := []struct {
		name      string
		family    string
		predicted float64
		threshold float64
		min, max  int
		want      int
	}{
		{name: "rif exact", family: "rif", predicted: 40, threshold: 20, want: 2},
		{name: "rif rounds up", family: "rif", predicted: 41, threshold: 20, want: 3},
		{name: "rif no threshold", family: "rif", predicted: 41, threshold: 0, want: 0},
		{name: "rif idle", family: "rif", predicted: 0, threshold: 20, want: 0},
		{name: "mc at threshold is min", family: "mc", predicted: 30, threshold: 30, min: 2, max: 6, want: 2},
		{name: "mc below threshold is min-1", family: "mc", predicted: 10, threshold: 30, min: 2, max: 6, want: 1},
		{name: "mc below threshold min 0", family: "mc", predicted: 10, threshold: 30, min: 0, max: 6, want: -1},
		{name: "mc above", family: "mc", predicted: 60, threshold: 30, min: 2, max: 6, want: 4}, // 2 + 30/(70/4) = 3.71
		{name: "mc at 100", family: "mc", predicted: 100, threshold: 30, min: 2, max: 6, want: 6},
		{name: "mc min == max", family: "mc", predicted: 90, threshold: 30, min: 3, max: 3, want: 3},
		{name: "la above", family: "la", predicted: 60, threshold: 25, min: 2, want: 5}, // 4.8
		{name: "la below", family: "la", predicted: 10, threshold: 25, min: 2, want: 1}, // 0.8
		{name: "la zero threshold", family: "la", predicted: 10, threshold: 0, min: 2, want: 2},
	}
	for _, tt := range tests {
		var got int
		switch tt.family {
		case "rif":
			got = RIFRequired(tt.predicted, tt.threshold)
		case "mc":
			got = MCRequired(tt.predicted, tt.threshold, tt.min, tt.max)
		case "la":
			got = LARequired(tt.predicted, tt.threshold, tt.min)
		}
		if got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestVerdictsAndScaleUpCount(t *testing.T) {
	tests := []struct {
		name                          string
		active, required, nonTerm, mx int
		up, down                      bool
		add                           int
	}{
		{name: "steady", active: 3, required: 3, nonTerm: 3, mx: 6},
		{name: "up", active: 2, required: 5, nonTerm: 2, mx: 6, up: true, add: 3},
		{name: "up beyond max", active: 2, required: 9, nonTerm: 2, mx: 6, up: true, add: 4},
		{name: "up covered by pending (spawn-loop guard)", active: 2, required: 4, nonTerm: 5, mx: 6, up: true, add: 0},
		{name: "down", active: 5, required: 1, nonTerm: 5, mx: 6, down: true},
		{name: "one and one is down (Stratos)", active: 1, required: 1, nonTerm: 1, mx: 6, down: true},
	}
	for _, tt := range tests {
		up, down := Verdicts(tt.active, tt.required)
		if up != tt.up || down != tt.down {
			t.Errorf("%s: Verdicts = %t, %t; want %t, %t", tt.name, up, down, tt.up, tt.down)
		}
		if up {
			if got := ScaleUpCount(tt.required, tt.nonTerm, tt.mx); got != tt.add {
				t.Errorf("%s: ScaleUpCount = %d, want %d", tt.name, got, tt.add)
			}
		}
	}
}

func TestPartitionAlgorithms(t *testing.T) {
	pl := func(nt, mx int) PartitionLoad { return PartitionLoad{NonTerminated: nt, Max: mx} }
	obs := func(nt, mx int) PartitionLoad { return PartitionLoad{NonTerminated: nt, Max: mx, Obsolete: true} }
	tests := []struct {
		name     string
		algo     policies.PartitionAlgorithm
		parts    []PartitionLoad
		up, down int
	}{
		{name: "oaa fills first", algo: policies.OneAfterAnother, parts: []PartitionLoad{pl(1, 3), pl(0, 3)}, up: 0, down: 0},
		{name: "oaa first full", algo: policies.OneAfterAnother, parts: []PartitionLoad{pl(3, 3), pl(1, 3)}, up: 1, down: 1},
		{name: "oaa all full", algo: policies.OneAfterAnother, parts: []PartitionLoad{pl(3, 3), pl(3, 3)}, up: -1, down: 1},
		{name: "oaa empty", algo: policies.OneAfterAnother, parts: []PartitionLoad{pl(0, 3), pl(0, 3)}, up: 0, down: -1},
		{name: "oaa skips obsolete", algo: policies.OneAfterAnother, parts: []PartitionLoad{obs(0, 3), pl(2, 3)}, up: 1, down: 1},
		{name: "rr least filled", algo: policies.RoundRobin, parts: []PartitionLoad{pl(2, 3), pl(1, 3)}, up: 1, down: 0},
		{name: "rr tie first wins up, last wins down", algo: policies.RoundRobin, parts: []PartitionLoad{pl(1, 3), pl(1, 3)}, up: 0, down: 1},
		{name: "rr full", algo: policies.RoundRobin, parts: []PartitionLoad{pl(3, 3), pl(3, 3)}, up: -1, down: 1},
		{name: "rr least filled at its max stops (Stratos)", algo: policies.RoundRobin, parts: []PartitionLoad{pl(1, 1), pl(2, 5)}, up: -1, down: 1},
		{name: "rr largest above its max is not picked", algo: policies.RoundRobin, parts: []PartitionLoad{pl(4, 3), pl(1, 3)}, up: 1, down: -1},
		{name: "rr empty", algo: policies.RoundRobin, parts: []PartitionLoad{pl(0, 3), pl(0, 3)}, up: 0, down: -1},
	}
	for _, tt := range tests {
		if got := PickScaleUp(tt.algo, tt.parts); got != tt.up {
			t.Errorf("%s: PickScaleUp = %d, want %d", tt.name, got, tt.up)
		}
		if got := PickScaleDown(tt.algo, tt.parts); got != tt.down {
			t.Errorf("%s: PickScaleDown = %d, want %d", tt.name, got, tt.down)
		}
	}
}
