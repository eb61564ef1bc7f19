package console

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// What the cluster page's charts show, from the history API: the CEP's cluster average of each
// metric (the value the autoscaler compares with the policy's threshold), and each member's own
// line when the cluster has at most maxMemberLines members (beyond that the lines are noise,
// and asking for them would cost the history a series per member). The members' last health
// comes from a short window at the end.

// maxMemberLines is the most members a chart draws a line for.
const maxMemberLines = 12

// lastHealthWindow is how far back the members' last health is looked for.
const lastHealthWindow = 2 * time.Minute

// The metrics charted on the cluster page, with the autoscaling policy's threshold of each.
var chartMetrics = []struct {
	metric, title string
	average       model.SummaryKind
	threshold     func(autoscalingPolicy) *threshold
}{
	{model.MetricLoadAverage, "Load average", model.AverageLoadAverage,
		func(p autoscalingPolicy) *threshold { return p.LoadThresholds.LoadAverage }},
	{model.MetricMemoryConsumption, "Memory consumption (%)", model.AverageMemoryConsumption,
		func(p autoscalingPolicy) *threshold { return p.LoadThresholds.MemoryConsumption }},
	{model.MetricRequestsInFlight, "Requests in flight", model.AverageRequestsInFlight,
		func(p autoscalingPolicy) *threshold { return p.LoadThresholds.RequestsInFlight }},
}

// chartWindow is what the cluster page charts: a cluster over a time range.
type chartWindow struct {
	cluster  string
	from, to time.Time
	step     time.Duration
	policy   autoscalingPolicy
	marks    []decisionMark
	members  int
}

// charts queries the history and builds the charts, each member's last health ("metric value
// at time" per metric) and the problems the history reported.
func (c *Console) charts(ctx context.Context, s *session, w chartWindow) ([]chart, map[string][]string, []string) {
	var problems []string
	last := map[string][]string{}
	var charts []chart
	for _, cm := range chartMetrics {
		ch := chart{Title: cm.title, From: w.from, To: w.to, Marks: w.marks}
		if t := cm.threshold(w.policy); t != nil {
			ch.Threshold, ch.HasThreshold = t.Threshold, true
		}
		q := url.Values{"cluster": {w.cluster}, "from": {w.from.Format(time.RFC3339)}, "to": {w.to.Format(time.RFC3339)}, "step": {w.step.String()}}
		if w.members <= maxMemberLines {
			q.Set("metric", cm.metric)
			var pts []point
			if err := c.history(ctx, s, "health", q, &pts); err != nil {
				problems = append(problems, cm.title+": "+err.Error())
			}
			ch.Series = memberSeries(pts)
			q.Del("metric")
		}
		q.Set("kind", cm.average.String())
		var avg []point
		if err := c.history(ctx, s, "summaries", q, &avg); err != nil {
			problems = append(problems, cm.title+" (average): "+err.Error())
		}
		ch.Series = append(ch.Series, averageSeries(avg)...)
		charts = append(charts, ch)

	}
	// One query for every metric's last health: the history scans its samples once.
	lq := url.Values{"cluster": {w.cluster}, "from": {w.to.Add(-lastHealthWindow).Format(time.RFC3339)},
		"to": {w.to.Format(time.RFC3339)}, "step": {lastHealthWindow.String()}}
	var recent []point
	if err := c.history(ctx, s, "health", lq, &recent); err != nil {
		problems = append(problems, "last health: "+err.Error())
	}
	type key struct{ member, metric string }
	newest := map[key]point{}
	for _, p := range recent {
		k := key{p.MemberID, p.Metric}
		if n, ok := newest[k]; !ok || p.Time.After(n.Time) {
			newest[k] = p
		}
	}
	for _, cm := range chartMetrics {
		for k, p := range newest {
			if k.metric == cm.metric {
				last[k.member] = append(last[k.member], fmt.Sprintf("%s %.3g", cm.metric, p.Avg))
			}
		}
	}
	return charts, last, problems
}

// memberSeries turns health buckets into a series per member.
func memberSeries(pts []point) []series {
	return seriesBy(pts,
		func(p point) (string, bool) { return p.MemberID, true },
		func(member string) series { return series{Name: member} })
}

// averageSeries turns the CEP's cluster-average summaries into a series per cluster instance.
func averageSeries(pts []point) []series {
	return seriesBy(pts,
		func(p point) (string, bool) { return p.ClusterInstanceID, p.MemberID == "" },
		func(instance string) series {
			return series{Name: "cluster average (CEP) " + instance, Average: true}
		})
}

// seriesBy groups the points that key keeps into a series per key, started by fresh; the series
// come sorted by key and their samples by time.
func seriesBy(pts []point, key func(point) (string, bool), fresh func(key string) series) []series {
	byKey := map[string]*series{}
	var keys []string
	for _, p := range pts {
		k, keep := key(p)
		if !keep {
			continue
		}
		s := byKey[k]
		if s == nil {
			ns := fresh(k)
			s = &ns
			byKey[k] = s
			keys = append(keys, k)
		}
		s.Samples = append(s.Samples, sample{T: p.Time, V: p.Avg})
	}
	slices.Sort(keys)
	out := make([]series, 0, len(keys))
	for _, k := range keys {
		s := byKey[k]
		slices.SortFunc(s.Samples, func(a, b sample) int { return a.T.Compare(b.T) })
		out = append(out, *s)
	}
	return out
}
