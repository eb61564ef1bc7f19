package demo

import (
	"encoding/json"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-paas/strata/autoscaler"
	"github.com/strata-paas/strata/internal/model"
)

// trace encodes t as the autoscaler stores it in a decision.
func trace(t *testing.T, tr autoscaler.Trace) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecisionLine(t *testing.T) {
	t.Parallel()
	names := map[string]string{"m-1": "127.0.0.2"}
	name := func(id string) string {
		if n := names[id]; n != "" {
			return n
		}
		return id
	}
	rif := [3]autoscaler.FamilyTrace{{Name: "rif", Average: 7.5, Gradient: 0.25, Predicted: 8.125, Threshold: 3, Required: 3}}
	for _, tc := range []struct {
		name string
		d    model.Decision
		want string
	}{
		{name: "no trace",
			d:    model.Decision{Action: "min", Delta: 1, Active: 0, Required: 1, Reason: "min check: fewer non-terminated members than min"},
			want: "min +1 (active 0, required 1): min check: fewer non-terminated members than min"},
		{name: "undecodable trace",
			d:    model.Decision{Action: "none", Active: 1, Required: 1, Reason: "steady", Trace: json.RawMessage(`[`)},
			want: "none (active 1, required 1): steady"},
		{name: "scaling rule with a changed rule",
			d: model.Decision{Action: "scale-up", Delta: 2, Active: 1, Required: 3, Reason: "scaling rule: active below required",
				Trace: trace(t, autoscaler.Trace{ScalingRun: true, Families: rif, Rules: []autoscaler.RuleTrace{
					{Name: "unchanged", Target: "required", Value: 3},
					{Name: "requests-decide", Target: "required", Value: 3, Changed: true},
					{Name: "scale-in-with-headroom", Target: "scaleDown", IsBool: true, Verdict: false, Changed: true},
				}, Steps: []autoscaler.Step{{Check: "scale", Action: "start"}, {Check: "scale", Action: "start"}}})},
			want: "scale-up +2 (active 1, required 3): scaling rule: active below required; rif avg 7.50 grad +0.25 -> predicted 8.12 / threshold 3 -> 3" +
				"; rule requests-decide: required = 3; rule scale-in-with-headroom: scaleDown = false; scale: start x2"},
		{name: "scale-down counted",
			d: model.Decision{Action: "none", Active: 3, Required: 1, Reason: "scale-down counted; Stratos acts on the fourth consecutive request",
				Trace: trace(t, autoscaler.Trace{ScalingRun: true, Families: rif, Final: autoscaler.Verdict{ScaleDown: true}, ScaleDownRequests: 2,
					Stabilized: 2, Limit: "scale-down-requests"})},
			want: "none (active 3, required 1): scale-down counted; Stratos acts on the fourth consecutive request; rif avg 7.50 grad +0.25 -> predicted 8.12 / threshold 3 -> 3" +
				"; stabilization window: 2; scale-down requests 2 [scale-down-requests]"},
		{name: "terminate a named member",
			d: model.Decision{Action: "scale-down", Delta: -1, Active: 2, Required: 1, Reason: "scaling rule: active above required",
				Trace: trace(t, autoscaler.Trace{Final: autoscaler.Verdict{ScaleDown: true}, ScaleDownRequests: 4, Limit: "max-step",
					Steps: []autoscaler.Step{{Check: "scale", Action: "terminate", Member: "m-1"}, {Check: "scale", Action: "terminate", Member: "m-9"}}})},
			want: "scale-down -1 (active 2, required 1): scaling rule: active above required; scale: terminate 127.0.0.2; scale: terminate m-9"},
		{name: "check named only when it differs from the action",
			d: model.Decision{Action: "min", Delta: 1, Active: 0, Required: 1, Reason: "min check",
				Trace: trace(t, autoscaler.Trace{Steps: []autoscaler.Step{{Check: "min", Action: "min"}}})},
			want: "min +1 (active 0, required 1): min check; min"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decisionLine(tc.d, name); got != tc.want {
				t.Errorf("decisionLine:\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestSummaryText(t *testing.T) {
	t.Parallel()
	sum := func(k model.SummaryKind, v float64) model.Summary { return model.Summary{Kind: k, Value: v} }
	for _, tc := range []struct {
		name string
		s    []model.Summary
		want string
	}{
		{name: "none yet", want: "rif - mc - la -"},
		{name: "rif without gradient", s: []model.Summary{sum(model.AverageRequestsInFlight, 2.04)}, want: "rif 2.0 (+0.00/s) mc - la -"},
		{name: "NaN gradient", s: []model.Summary{sum(model.AverageRequestsInFlight, 2), sum(model.GradientOfRequestsInFlight, math.NaN())},
			want: "rif 2.0 (+0.00/s) mc - la -"},
		{name: "all", s: []model.Summary{sum(model.AverageRequestsInFlight, 11.96), sum(model.GradientOfRequestsInFlight, -0.5),
			sum(model.AverageMemoryConsumption, 41.6), sum(model.AverageLoadAverage, 120.2)},
			want: "rif 12.0 (-0.50/s) mc 42% la 120%"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := map[model.SummaryKind]model.Summary{}
			for _, s := range tc.s {
				m[s.Kind] = s
			}
			if got := summaryText(m); got != tc.want {
				t.Errorf("summaryText = %q, want %q", got, tc.want)
			}
		})
	}
}

// member is a member of the demo's cluster in state s at address ip.
func member(id, ip string, s model.MemberStatus) model.Member {
	m := model.Member{MemberID: id, ClusterID: "demo.web.demo-web.domain", DefaultPrivateIP: ip}
	m.PushStatus(s)
	return m
}

func TestMemberText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		ms   []model.Member
		want string
	}{
		{name: "none", want: "none"},
		{name: "one Active", ms: []model.Member{member("a", "127.0.0.2", model.MemberActive)}, want: "1 Active [127.0.0.2]"},
		{name: "states in lifecycle order, addresses sorted", ms: []model.Member{
			member("a", "127.0.0.4", model.MemberActive),
			member("b", "", model.MemberCreated),
			member("c", "127.0.0.2", model.MemberActive),
			member("d", "127.0.0.3", model.MemberStarting),
		}, want: "1 Created [?], 1 Starting [127.0.0.3], 2 Active [127.0.0.2 127.0.0.4]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := memberText(tc.ms); got != tc.want {
				t.Errorf("memberText = %q, want %q", got, tc.want)
			}
		})
	}
}

// fakePlatform is the printer's view of the controller and the autoscaler.
type fakePlatform struct {
	members   []model.Member
	decisions []model.Decision
}

func (f *fakePlatform) Members(string) []model.Member          { return f.members }
func (f *fakePlatform) Decisions(string, int) []model.Decision { return f.decisions }

// TestPrinter runs the printer's ticks by hand on a scripted demo: the status lines, each
// decision printed once, the monitor ticks without fresh metrics left out, and the summary.
func TestPrinter(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(s int) time.Time { return start.Add(time.Duration(s) * time.Second) }
	st := &state{start: start, clusterID: "demo.web.demo-web.domain"}
	plat := &fakePlatform{}
	var out strings.Builder
	p := newPrinter(&out, st, plat, plat)
	ld := newLoad("http://127.0.0.1:1/", []Wave{{Name: "high", D: time.Second, Workers: 3}})
	if ld.max != 3 {
		t.Fatalf("load workers %d, want 3", ld.max)
	}

	st.setPhase("starting")
	plat.members = []model.Member{member("m-1", "", model.MemberCreated)}
	plat.decisions = []model.Decision{{ID: "d1", Time: at(1), Action: "min", Delta: 1, Required: 1, NonTerminated: 0, Reason: "min check: fewer non-terminated members than min"}}
	last := p.tick(at(1), ld, counts{})

	st.setPhase("high")
	ld.setWorkers(3)
	ld.ok.Add(10)
	ld.lat.Add(int64(10 * 250 * time.Millisecond))
	ld.errs.Add(1)
	ld.lastErr.Store("502 Bad Gateway")
	c := new(atomic.Int64)
	c.Store(10)
	ld.served.Store("m-1", c)
	st.summary(model.Summary{Kind: model.AverageRequestsInFlight, ClusterID: st.clusterID, Value: 3})
	st.summary(model.Summary{Kind: model.AverageRequestsInFlight, ClusterID: "other", Value: 99})                        // another cluster
	st.summary(model.Summary{Kind: model.MemberAverageLoadAverage, ClusterID: st.clusterID, MemberID: "m-1", Value: 99}) // member level
	plat.members = []model.Member{member("m-1", "127.0.0.2", model.MemberActive), member("m-2", "127.0.0.3", model.MemberActive)}
	plat.decisions = append(plat.decisions,
		model.Decision{ID: "d2", Time: at(2), Action: autoscaler.ActionNone, Reason: "no fresh metrics",
			Trace: trace(t, autoscaler.Trace{Limit: autoscaler.LimitNoFreshMetrics})},
		model.Decision{ID: "d3", Time: at(3), Action: autoscaler.ActionScaleUp, Delta: 1, Active: 1, Required: 2, NonTerminated: 1, Reason: "scaling rule: active below required"})
	last = p.tick(at(4), ld, last)

	st.setPhase("idle")
	ld.setWorkers(0)
	plat.members = []model.Member{member("m-1", "127.0.0.2", model.MemberActive)}
	plat.decisions = append(plat.decisions,
		model.Decision{ID: "d4", Time: at(9), Action: autoscaler.ActionScaleDown, Delta: -1, Active: 2, Required: 1, NonTerminated: 2, Reason: "scaling rule: active above required",
			Trace: trace(t, autoscaler.Trace{Steps: []autoscaler.Step{{Check: "scale", Action: "terminate", Member: "m-2"}}})})
	p.tick(at(10), ld, last)
	if !st.scaledOut() {
		t.Error("scaledOut() = false after 2 Active members")
	}
	p.summary(ld)

	want := `[   1s] decision min +1 (active 0, required 1): min check: fewer non-terminated members than min
[   1s] starting  0 workers   0 req/s  0 err    0 ms | rif - mc - la - | 1 Created [?]
[   3s] decision scale-up +1 (active 1, required 2): scaling rule: active below required
[   4s] high      3 workers  10 req/s  1 err  250 ms | rif 3.0 (+0.00/s) mc - la - | 2 Active [127.0.0.2 127.0.0.3]
         last error: 502 Bad Gateway
[   9s] decision scale-down -1 (active 2, required 1): scaling rule: active above required; scale: terminate 127.0.0.3
[  10s] idle      0 workers   0 req/s  0 err    0 ms | rif 3.0 (+0.00/s) mc - la - | 1 Active [127.0.0.2]
strata demo: summary
  requests: 10 served, 1 errors; by member: 127.0.0.2 10
  max members reached: 2 Active (min 1, max 4); 1 monitor ticks without fresh metrics not shown
  scaled out at 3s (1 members started by scale-up decisions)
  scaled back in to 1 at 9s (1 members terminated by scale-down decisions)
`
	if got := out.String(); got != want {
		t.Errorf("printer output:\n%s\nwant:\n%s", got, want)
	}
}

// TestPrinterSummaryNoScaling is the summary of a demo that neither scaled out nor in.
func TestPrinterSummaryNoScaling(t *testing.T) {
	t.Parallel()
	var out strings.Builder
	p := newPrinter(&out, &state{start: time.Now()}, &fakePlatform{}, &fakePlatform{})
	p.summary(newLoad("http://127.0.0.1:1/", nil))
	want := `strata demo: summary
  requests: 0 served, 0 errors; by member: 
  max members reached: 0 Active (min 1, max 4); 0 monitor ticks without fresh metrics not shown
  did not scale out
  did not scale back in to 1 (0 members terminated by scale-down decisions)
`
	if got := out.String(); got != want {
		t.Errorf("summary:\n%s\nwant:\n%s", got, want)
	}
}
