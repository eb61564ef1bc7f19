package autoscaler

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/policies"
)

func TestScalingFactorAndDependentCount(t *testing.T) {
	tests := []struct {
		name          string
		required, min int
		factor        float64
	}{
		{name: "double", required: 4, min: 2, factor: 2},
		{name: "fraction", required: 3, min: 2, factor: 1.5},
		{name: "down", required: 1, min: 2, factor: 0.5},
		{name: "min 0", required: 3, min: 0, factor: 3},
	}
	for _, tt := range tests {
		if got := ScalingFactor(tt.required, tt.min); got != tt.factor {
			t.Errorf("%s: ScalingFactor(%d, %d) = %v, want %v", tt.name, tt.required, tt.min, got, tt.factor)
		}
	}

	counts := []struct {
		name     string
		min, max int
		factor   float64
		rounding float64
		want     int
	}{
		{name: "exact", min: 2, max: 10, factor: 2, want: 4},
		{name: "default rounding is ceil", min: 3, max: 10, factor: 1.5, want: 5},      // 4.5
		{name: "small fraction rounds up at 0", min: 3, max: 10, factor: 1.1, want: 4}, // 3.3
		{name: "fraction below the rounding factor rounds down", min: 3, max: 10, factor: 1.1, rounding: 0.5, want: 3},
		{name: "fraction above the rounding factor rounds up", min: 3, max: 10, factor: 1.5, rounding: 0.4, want: 5},
		{name: "fraction equal to the rounding factor rounds down", min: 2, max: 10, factor: 1.25, rounding: 0.5, want: 2}, // 2.5
		{name: "capped at max", min: 2, max: 5, factor: 4, want: 5},
		{name: "never below min", min: 2, max: 5, factor: 0.5, want: 2},
	}
	for _, tt := range counts {
		if got := DependentCount(tt.min, tt.max, tt.factor, tt.rounding); got != tt.want {
			t.Errorf("%s: DependentCount(%d, %d, %v, %v) = %d, want %d", tt.name, tt.min, tt.max, tt.factor, tt.rounding, got, tt.want)
		}
	}
}

func TestHighestFactor(t *testing.T) {
	if _, ok := HighestFactor(nil); ok {
		t.Fatal("HighestFactor(nil) is ok")
	}
	got, ok := HighestFactor([]FactorRequest{{"cartridge.a", 1.5}, {"cartridge.b", 2.5}, {"cartridge.c", 2.5}, {"cartridge.d", 0.5}})
	if !ok || got != (FactorRequest{"cartridge.b", 2.5}) {
		t.Fatalf("HighestFactor = %+v, %v; want cartridge.b 2.5", got, ok)
	}
}

func TestDependentPlan(t *testing.T) {
	members := []MemberLoad{{"m1", 40}, {"m2", 10}, {"m3", 30}, {"m4", 10}}
	tests := []struct {
		name                 string
		target, max, nonTerm int
		wantStart            int
		wantTerminate        []string
		members              []MemberLoad
	}{
		{name: "spawn to target", target: 6, max: 10, nonTerm: 4, members: members, wantStart: 2},
		{name: "spawn up to max", target: 9, max: 5, nonTerm: 4, members: members, wantStart: 1},
		{name: "at max", target: 9, max: 4, nonTerm: 4, members: members},
		{name: "steady", target: 4, max: 10, nonTerm: 4, members: members},
		{name: "terminate lowest load first, first of ties first", target: 1, max: 10, nonTerm: 4, members: members, wantTerminate: []string{"m2", "m4", "m3"}},
		{name: "pending members count", target: 3, max: 10, nonTerm: 5, members: members, wantTerminate: []string{"m2", "m4"}},
	}
	for _, tt := range tests {
		start, term := DependentPlan(tt.target, tt.max, tt.nonTerm, tt.members)
		if start != tt.wantStart || !cmp.Equal(term, tt.wantTerminate) {
			t.Errorf("%s: DependentPlan = %d, %v; want %d, %v", tt.name, start, term, tt.wantStart, tt.wantTerminate)
		}
	}
}

func TestTerminationFor(t *testing.T) {
	// lb → tomcat → group.g, and php → esb; mysql has no order.
	orders := [][]string{{"cartridge.lb", "cartridge.tomcat", "group.g"}, {"cartridge.php", "cartridge.esb"}}
	children := []string{"cartridge.lb", "cartridge.tomcat", "group.g", "cartridge.php", "cartridge.esb", "cartridge.mysql"}
	tests := []struct {
		name      string
		b         TerminationBehaviour
		inactive  string
		want      []string
		wantWhole bool
	}{
		{name: "none", b: TerminateNone, inactive: "cartridge.lb"},
		{name: "empty is none", b: "", inactive: "cartridge.lb"},
		{name: "all", b: TerminateAll, inactive: "cartridge.mysql", want: children, wantWhole: true},
		{name: "dependents of the first", b: TerminateDependents, inactive: "cartridge.lb", want: []string{"cartridge.lb", "cartridge.tomcat", "group.g"}},
		{name: "dependents of the middle", b: TerminateDependents, inactive: "cartridge.tomcat", want: []string{"cartridge.tomcat", "group.g"}},
		{name: "the last has no dependents", b: TerminateDependents, inactive: "group.g"},
		{name: "no order", b: TerminateDependents, inactive: "cartridge.mysql"},
		{name: "other chain", b: TerminateDependents, inactive: "cartridge.php", want: []string{"cartridge.php", "cartridge.esb"}},
	}
	for _, tt := range tests {
		got := TerminationFor(tt.b, orders, children, tt.inactive)
		if !cmp.Equal(got.Terminate, tt.want) || got.Whole != tt.wantWhole {
			t.Errorf("%s: TerminationFor(%s) = %+v, want %v whole %v", tt.name, tt.inactive, got, tt.want, tt.wantWhole)
		}
	}
}

func TestStartupDependentsJoinedOrders(t *testing.T) {
	// Stratos continues an order from a child already in another: a → b, b → c → d, and e → c.
	orders := [][]string{{"a", "b"}, {"b", "c", "d"}, {"e", "c"}}
	if got, want := StartupDependents(orders, "a"), []string{"b", "c", "d"}; !cmp.Equal(got, want) {
		t.Errorf("StartupDependents(a) = %v, want %v", got, want)
	}
	if got, want := StartupDependents(orders, "e"), []string{"c", "d"}; !cmp.Equal(got, want) {
		t.Errorf("StartupDependents(e) = %v, want %v", got, want)
	}
}

func TestGroupScaleOut(t *testing.T) {
	tests := []struct {
		instances, max int
		want           bool
	}{{1, 1, false}, {1, 0, false}, {1, 2, true}, {2, 2, false}, {2, 3, true}}
	for _, tt := range tests {
		if got := GroupScaleOut(tt.instances, tt.max); got != tt.want {
			t.Errorf("GroupScaleOut(%d, %d) = %v, want %v", tt.instances, tt.max, got, tt.want)
		}
	}
}

func TestBurstPartitions(t *testing.T) {
	oneByOne := &policies.Application{Algorithm: policies.OneAfterAnotherNP, NetworkPartitions: []string{"np1", "np2", "np3"}}
	grouped := &policies.Application{Algorithm: policies.OneAfterAnotherNP, NetworkPartitions: []string{"np1", "np2", "np3"},
		Groups: [][]string{{"np1", "np2"}, {"np3"}}}
	all := &policies.Application{Algorithm: policies.AllAtOnce, NetworkPartitions: []string{"np1", "np2"}}
	tests := []struct {
		name    string
		ap      *policies.Application
		inUse   []string
		want    []string
		initial []string
	}{
		{name: "one after another", ap: oneByOne, inUse: []string{"np1"}, want: []string{"np2"}, initial: []string{"np1"}},
		{name: "one after another, second", ap: oneByOne, inUse: []string{"np1", "np2"}, want: []string{"np3"}, initial: []string{"np1"}},
		{name: "one after another, exhausted", ap: oneByOne, inUse: []string{"np1", "np2", "np3"}, initial: []string{"np1"}},
		{name: "groups", ap: grouped, inUse: []string{"np1", "np2"}, want: []string{"np3"}, initial: []string{"np1", "np2"}},
		{name: "groups, exhausted", ap: grouped, inUse: []string{"np1", "np2", "np3"}, initial: []string{"np1", "np2"}},
		{name: "all at once", ap: all, inUse: []string{"np1", "np2"}, initial: []string{"np1", "np2"}},
	}
	for _, tt := range tests {
		if got := BurstPartitions(tt.ap, tt.inUse); !cmp.Equal(got, tt.want) {
			t.Errorf("%s: BurstPartitions(%v) = %v, want %v", tt.name, tt.inUse, got, tt.want)
		}
		if got := InitialPartitions(tt.ap); !cmp.Equal(got, tt.initial) {
			t.Errorf("%s: InitialPartitions = %v, want %v", tt.name, got, tt.initial)
		}
	}
}
