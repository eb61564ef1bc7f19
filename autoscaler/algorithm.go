package autoscaler

import (
	"math"

	"github.com/strata-paas/strata/policies"
)

// The Stratos arithmetic (docs/stratos-wire.md §4.3-§4.6) as pure functions, so that table tests can
// pin every formula and the monitor only wires them together.

// Predict is Stratos' prediction for the next minute (§4.3): average + gradient·t + ½·sd·t² with
// t = 1, the way RuleTasksDelegator#getPredictedValueForNextMinute is always called. The gradient
// is per second and t = 1 is "one minute"; Stratos mixes the units and so do we, on purpose.
func Predict(average, gradient, secondDerivative float64) float64 {
	const t = 1.0
	return average + gradient*t + 0.5*secondDerivative*t*t
}

// RIFRequired is the member count the requests in flight alone require (§4.4):
// ceil(predicted / threshold), or 0 without a positive threshold.
func RIFRequired(predicted, threshold float64) int {
	if threshold <= 0 {
		return 0
	}
	return int(math.Ceil(predicted / threshold))
}

// MCRequired is the member count memory consumption alone requires (§4.4). Below the threshold
// it returns min − 1, which is how Stratos signals "scale down" from this family.
func MCRequired(predicted, threshold float64, minMembers, maxMembers int) int {
	if predicted == threshold {
		return minMembers
	}
	rng := 100 - threshold
	span := float64(maxMembers - minMembers)
	extra := 0.0
	if span != 0 {
		extra = (predicted - threshold) / (rng / span)
	}
	if predicted < threshold {
		return minMembers - 1
	}
	return int(math.Ceil(float64(minMembers) + extra))
}

// LARequired is the member count the load average alone requires (§4.4): ceil(min·P/T), or min
// when the threshold is 0.
func LARequired(predicted, threshold float64, minMembers int) int {
	if threshold == 0 {
		return minMembers
	}
	return int(math.Ceil(float64(minMembers) * predicted / threshold))
}

// Verdicts are Stratos' scale-up and scale-down conditions (§4.5). The second scale-down clause
// (required == 1 && active == 1) is Stratos' own; it only matters when min is 0.
func Verdicts(active, required int) (scaleUp, scaleDown bool) {
	return active < required, active > required || (required == 1 && active == 1)
}

// ScaleUpCount is how many members the scaling rule starts (§4.5): up to max, never negative.
// Stratos computes the same number but loops `while (count != additional)`, which spawns until
// every partition is full when the number is negative; callers loop only while it is positive.
func ScaleUpCount(required, nonTerminated, maxMembers int) int {
	n := required - nonTerminated
	if required > maxMembers {
		n = maxMembers - nonTerminated
	}
	return max(n, 0)
}

// ScaleDownVotes is the number of consecutive scale-down decisions that are only counted: Stratos
// terminates when scaleDownRequestsCount > 2, i.e. on the fourth consecutive decision (§4.5).
const ScaleDownVotes = 3

// PartitionLoad is what the partition algorithms see of one partition.
type PartitionLoad struct {
	NonTerminated int
	Max           int // partitionMax
	Obsolete      bool
}

// PickScaleUp returns the index of the partition the next member starts in, or -1 when none may
// take one (§4.6). Obsolete partitions are skipped.
//
// one-after-another: the first partition with room. round-robin: the partition with the fewest
// non-terminated members (the first wins ties; a count of 0 ends the search), and only if it has
// room — so a full least-filled partition stops scaling even when another has room, as in Stratos.
func PickScaleUp(algo policies.PartitionAlgorithm, parts []PartitionLoad) int {
	switch algo {
	case policies.RoundRobin:
		sel, least := -1, math.MaxInt
		for i, p := range parts {
			if p.Obsolete {
				continue
			}
			if p.NonTerminated < least {
				sel, least = i, p.NonTerminated
				if least == 0 {
					break
				}
			}
		}
		if sel >= 0 && parts[sel].NonTerminated < parts[sel].Max {
			return sel
		}
		return -1
	default: // one-after-another, Stratos' default
		for i, p := range parts {
			if !p.Obsolete && p.NonTerminated < p.Max {
				return i
			}
		}
		return -1
	}
}

// PickScaleDown returns the index of the partition a member is terminated from, or -1 (§4.6).
//
// one-after-another: the last partition with a member. round-robin: the partition with the most
// non-terminated members, searching from the highest index (index 0 is the default), returned if
// its count is within its partitionMax.
func PickScaleDown(algo policies.PartitionAlgorithm, parts []PartitionLoad) int {
	switch algo {
	case policies.RoundRobin:
		sel, most := -1, 0
		for i := len(parts) - 1; i >= 0; i-- {
			if parts[i].Obsolete {
				continue
			}
			if sel < 0 {
				sel = i
			}
			if parts[i].NonTerminated > most {
				sel, most = i, parts[i].NonTerminated
			}
		}
		if sel >= 0 && parts[sel].NonTerminated > 0 && parts[sel].NonTerminated <= parts[sel].Max {
			return sel
		}
		return -1
	default:
		for i := len(parts) - 1; i >= 0; i-- {
			if !parts[i].Obsolete && parts[i].NonTerminated > 0 {
				return i
			}
		}
		return -1
	}
}
