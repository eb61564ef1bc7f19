package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
)

// PageSize is the members RuntimeView asks for in one page.
const PageSize = 1000

// RuntimeView returns an application's runtime view as JSON. Without members it is one call with
// ?limit=0: every application and cluster instance with its memberCounts and no member, as cheap
// at 100,000 members as at one. With members it reads every member, pageSize at a time (PageSize
// when 0), following next, and merges the pages into one document of the shape the view has
// without ?limit (every member under its cluster instance, no next), so scripts that read the
// whole view read the same document. A server that ignores ?limit answers the whole view at once,
// which is used as it is.
func (c *Client) RuntimeView(ctx context.Context, app string, members bool, pageSize int) (json.RawMessage, error) {
	path := "/applications/" + url.PathEscape(app) + "/runtime"
	if !members {
		var raw json.RawMessage
		if err := c.Call(ctx, http.MethodGet, path+"?limit=0", nil, &raw); err != nil {
			return nil, err
		}
		return raw, nil
	}
	if pageSize <= 0 {
		pageSize = PageSize
	}
	var doc map[string]any
	after := ""
	for {
		var raw json.RawMessage
		q := fmt.Sprintf("?limit=%d&after=%s", pageSize, url.QueryEscape(after))
		if err := c.Call(ctx, http.MethodGet, path+q, nil, &raw); err != nil {
			return nil, err
		}
		page, err := decodeObject(raw)
		if err != nil {
			return nil, fmt.Errorf("decode runtime page after %q: %w", after, err)
		}
		next, _ := page["next"].(string)
		delete(page, "next")
		if doc == nil {
			doc = page
		} else {
			mergePage(doc, page)
		}
		if next == "" {
			break
		}
		if next <= after {
			return nil, fmt.Errorf("runtime page after %q names next %q, not a later member", after, next)
		}
		after = next
	}
	return json.Marshal(doc)
}

// decodeObject decodes a JSON object keeping numbers as they were written.
func decodeObject(raw []byte) (map[string]any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// mergePage adds the members of page to doc under their cluster instances, at any depth of
// group instances; an application, group or cluster instance that doc lacks (it appeared between
// the pages) is added whole.
func mergePage(doc, page map[string]any) {
	instances, _ := doc["applicationInstances"].([]any)
	for _, pa := range objects(page["applicationInstances"]) {
		i := slices.IndexFunc(instances, func(a any) bool { return key(a, "instanceId") == key(pa, "instanceId") })
		if i < 0 {
			instances = append(instances, pa)
			continue
		}
		mergeParent(instances[i].(map[string]any), pa)
	}
	doc["applicationInstances"] = instances
}

// mergeParent merges the cluster and group instances of an application or group instance.
func mergeParent(dst, src map[string]any) {
	clusters, _ := dst["clusterInstances"].([]any)
	for _, pc := range objects(src["clusterInstances"]) {
		j := slices.IndexFunc(clusters, func(c any) bool {
			return key(c, "clusterId") == key(pc, "clusterId") && key(c, "instanceId") == key(pc, "instanceId")
		})
		if j < 0 {
			clusters = append(clusters, pc)
			continue
		}
		dc := clusters[j].(map[string]any)
		ms, _ := dc["member"].([]any)
		more, _ := pc["member"].([]any)
		dc["member"] = append(ms, more...)
	}
	dst["clusterInstances"] = clusters
	groups, _ := dst["groupInstances"].([]any)
	for _, pg := range objects(src["groupInstances"]) {
		j := slices.IndexFunc(groups, func(g any) bool {
			return key(g, "groupId") == key(pg, "groupId") && key(g, "instanceId") == key(pg, "instanceId")
		})
		if j < 0 {
			groups = append(groups, pg)
			continue
		}
		mergeParent(groups[j].(map[string]any), pg)
	}
	if groups != nil {
		dst["groupInstances"] = groups
	}
}

// objects returns the JSON objects of a JSON array.
func objects(v any) []map[string]any {
	var out []map[string]any
	for _, e := range asSlice(v) {
		if m, ok := e.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// key returns the string field k of a JSON object, or "".
func key(v any, k string) string {
	m, _ := v.(map[string]any)
	s, _ := m[k].(string)
	return s
}

// byState returns the cluster instance's members by state: its memberCounts, or the count of
// its listed members when the answer has none (a server without pages).
func (ci *RuntimeCluster) byState() map[string]int {
	if len(ci.MemberCounts) > 0 {
		return ci.MemberCounts
	}
	byState := map[string]int{}
	for _, m := range ci.Member {
		byState[m.Status]++
	}
	return byState
}

// states writes counts as "Active 9990, Starting 10", states in name order, and their total.
func states(byState map[string]int) (string, int) {
	var parts []string
	total := 0
	for _, s := range slices.Sorted(maps.Keys(byState)) {
		parts = append(parts, fmt.Sprintf("%s %d", s, byState[s]))
		total += byState[s]
	}
	if len(parts) == 0 {
		return "-", 0
	}
	return strings.Join(parts, ", "), total
}

// WriteCounts writes the application's status and a table of its cluster instances with their
// members' count per state, then the application's totals.
func (r *Runtime) WriteCounts(w io.Writer) error {
	fmt.Fprintf(w, "application %s: %s\n", r.ID, r.Status)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tCLUSTER\tALIAS\tCARTRIDGE\tCLUSTER STATUS\tMEMBERS\tBY STATE")
	all := map[string]int{}
	for _, ai := range r.ApplicationInstances {
		for _, ci := range ai.Clusters() {
			byState := ci.byState()
			for s, n := range byState {
				all[s] += n
			}
			text, total := states(byState)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", ci.InstanceID, ci.ClusterID, ci.Alias, ci.ServiceName, ci.Status, total, text)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	text, total := states(all)
	if total == 0 {
		_, err := fmt.Fprintln(w, "members: 0")
		return err
	}
	_, err := fmt.Fprintf(w, "members: %d (%s); strata runtime --members %s lists them\n", total, text, r.ID)
	return err
}
