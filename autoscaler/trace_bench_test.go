package autoscaler

import (
	"context"
	"encoding/json"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/internal/model"
)

// encodeTraceJSON is encodeTrace written with encoding/json, the alternative the hand-written
// encoder is measured against: the same document once decoded (DecodeTrace), with the would
// values as pointers and a rule's expression only where it changed its target or failed.
func encodeTraceJSON(t *Trace) ([]byte, error) {
	c := *t
	if t.would != nil {
		ptrs := [6]**float64{&c.WouldTrigger.RIFAbove, &c.WouldTrigger.MCAbove, &c.WouldTrigger.LAAbove,
			&c.WouldTrigger.RIFAtMost, &c.WouldTrigger.MCBelow, &c.WouldTrigger.LAAtMost}
		for i, v := range t.would {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				*ptrs[i] = &v
			}
		}
	}
	if len(t.Rules) > 0 {
		c.Rules = append([]RuleTrace(nil), t.Rules...)
		for i := range c.Rules {
			if !c.Rules[i].Changed && c.Rules[i].Error == "" {
				c.Rules[i].Expr = ""
			}
		}
	}
	return json.Marshal(&c)
}

// roundTrace is the trace of one instance of BenchmarkRound10k's fresh round: what the
// encoder writes 10 000 times a round.
func roundTrace(tb testing.TB) (*Autoscaler, Trace) {
	a, clock := newBench(tb, 1)
	now := clock.Now().Add(DefaultMonitorInterval)
	clock.Set(now)
	freshen(a, now)
	a.Evaluate(context.Background())
	a.mu.Lock()
	defer a.mu.Unlock()
	tr := a.scratch.tr
	w := *tr.would
	tr.would = &w
	return a, tr
}

func TestTraceEncoders(t *testing.T) {
	a, tr := roundTrace(t)
	hand, err := DecodeTrace(model.Decision{Trace: append([]byte(nil), a.encodeTrace(&tr)...)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := encodeTraceJSON(&tr)
	if err != nil {
		t.Fatal(err)
	}
	std, err := DecodeTrace(model.Decision{Trace: b})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(std, hand, cmp.AllowUnexported(Trace{})); diff != "" {
		t.Errorf("hand-written encoder against encoding/json (-json +hand):\n%s", diff)
	}
	if len(hand.Rules) == 0 || hand.WouldTrigger.RIFAbove == nil {
		t.Errorf("the round's trace has no rules or no would values: %+v", hand)
	}
}

// BenchmarkTraceEncode encodes the trace of one instance of a fresh round with the hand-written
// encoder and with encoding/json.
func BenchmarkTraceEncode(b *testing.B) {
	a, tr := roundTrace(b)
	b.Run("impl=hand", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			a.encodeTrace(&tr)
		}
	})
	b.Run("impl=encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := encodeTraceJSON(&tr); err != nil {
				b.Fatal(err)
			}
		}
	})
}
