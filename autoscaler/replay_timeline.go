package autoscaler

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// The replay's timeline: recorded and replayed decisions paired by time, and its presentation.

// timeline pairs recorded and replayed decisions, both sorted by time: the next two within tol
// share a row, else the earlier stands alone. A row differs when its two decisions differ in
// action or delta, or when a decision that acted has no partner.
func timeline(recorded, replayed []model.Decision, tol time.Duration) ([]ReplayRow, int) {
	var rows []ReplayRow
	diffs := 0
	i, j := 0, 0
	for i < len(recorded) || j < len(replayed) {
		var row ReplayRow
		switch {
		case j == len(replayed) || (i < len(recorded) && recorded[i].Time.Before(replayed[j].Time.Add(-tol))):
			row.Recorded = replayDecisionOf(recorded[i])
			row.Time = recorded[i].Time
			row.Differs = row.Recorded.Acted()
			i++
		case i == len(recorded) || replayed[j].Time.Before(recorded[i].Time.Add(-tol)):
			row.Replayed = replayDecisionOf(replayed[j])
			row.Time = replayed[j].Time
			row.Differs = row.Replayed.Acted()
			j++
		default:
			row.Recorded, row.Replayed = replayDecisionOf(recorded[i]), replayDecisionOf(replayed[j])
			row.Time = recorded[i].Time
			row.Differs = row.Recorded.Action != row.Replayed.Action || row.Recorded.Delta != row.Replayed.Delta
			i++
			j++
		}
		if row.Differs {
			diffs++
		}
		rows = append(rows, row)
	}
	return rows, diffs
}

// WriteText writes the timeline as a table for people, then a summary line: every row where
// either side acted or the two differ, or every row with all. A '*' marks a difference;
// members are active/non-terminated after the decision's own step was decided.
func (r *ReplayResult) WriteText(w io.Writer, all bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster %s instance %s: recorded %s, replayed %s, from %s\n", r.Cluster.ClusterID, r.Cluster.InstanceID,
		orDash(r.RecordedPolicy), r.Policy, r.From.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tTIME\tRECORDED\tMEMBERS\tREPLAYED\tMEMBERS\tREPLAYED REASON")
	side := func(d *ReplayDecision) (string, string) {
		if d == nil {
			return "-", "-"
		}
		act := d.Action
		if d.Delta != 0 {
			act += fmt.Sprintf(" %+d", d.Delta)
		}
		return act, fmt.Sprintf("%d/%d", d.Active, d.NonTerminated)
	}
	for _, row := range r.Timeline {
		if !all && !row.Differs && !row.Recorded.Acted() && !row.Replayed.Acted() {
			continue
		}
		mark := ""
		if row.Differs {
			mark = "*"
		}
		ra, rm := side(row.Recorded)
		ca, cm := side(row.Replayed)
		reason := "-"
		if row.Replayed != nil {
			reason = row.Replayed.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", mark, row.Time.UTC().Format("2006-01-02T15:04:05.000Z"), ra, rm, ca, cm, reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	rs, rt := sumDeltas(r.Recorded)
	cs, ct := sumDeltas(r.Replayed)
	fmt.Fprintf(&b, "%d recorded decisions (+%d -%d members), %d replayed (+%d -%d), %d differences",
		len(r.Recorded), rs, rt, len(r.Replayed), cs, ct, r.Differences)
	for _, row := range r.Timeline {
		if row.Differs {
			fmt.Fprintf(&b, ", first at %s", row.Time.UTC().Format(time.RFC3339))
			break
		}
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func sumDeltas(ds []model.Decision) (started, terminated int) {
	for _, d := range ds {
		if d.Delta > 0 {
			started += d.Delta
		} else {
			terminated -= d.Delta
		}
	}
	return started, terminated
}

// WriteJSON writes the result as one indented JSON document: the range, the policies, the
// counts of recorded and replayed decisions, the differences and the timeline.
func (r *ReplayResult) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Cluster        string      `json:"cluster"`
		Instance       string      `json:"instance"`
		Policy         string      `json:"policy"`
		RecordedPolicy string      `json:"recordedPolicy"`
		From           time.Time   `json:"from"`
		To             time.Time   `json:"to"`
		Recorded       int         `json:"recordedDecisions"`
		Replayed       int         `json:"replayedDecisions"`
		Differences    int         `json:"differences"`
		Timeline       []ReplayRow `json:"timeline"`
	}{r.Cluster.ClusterID, r.Cluster.InstanceID, r.Policy, r.RecordedPolicy, r.From, r.To,
		len(r.Recorded), len(r.Replayed), r.Differences, r.Timeline})
}
