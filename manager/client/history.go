package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/strata-paas/strata/history"
	"github.com/strata-paas/strata/internal/model"
)

// The history reads answer the history package's queries through /api/history, as JSON; a
// replay reads them as it reads ClickHouse.

// Summaries returns the cluster's recorded summaries (GET /api/history/summaries).
func (c *Client) Summaries(ctx context.Context, q history.SummaryQuery) ([]history.Point, error) {
	v := url.Values{"cluster": {q.ClusterID}, "from": {apiTime(q.From)}, "step": {q.Step.String()}}
	if !q.To.IsZero() {
		v.Set("to", apiTime(q.To))
	}
	var out []history.Point
	return out, c.history(ctx, "summaries", v, &out)
}

// Lifecycle returns the cluster's lifecycle records (GET /api/history/lifecycle).
func (c *Client) Lifecycle(ctx context.Context, q history.LifecycleQuery) ([]model.LifecycleRecord, error) {
	v := url.Values{"cluster": {q.ClusterID}, "from": {apiTime(q.From)}, "limit": {strconv.Itoa(q.Limit)}}
	if !q.To.IsZero() {
		v.Set("to", apiTime(q.To))
	}
	var out []model.LifecycleRecord
	return out, c.history(ctx, "lifecycle", v, &out)
}

// Decisions returns the cluster's recorded autoscaling decisions (GET /api/history/decisions).
func (c *Client) Decisions(ctx context.Context, q history.DecisionQuery) ([]model.Decision, error) {
	v := url.Values{"cluster": {q.ClusterID}, "from": {apiTime(q.From)}, "limit": {strconv.Itoa(q.Limit)}}
	if !q.To.IsZero() {
		v.Set("to", apiTime(q.To))
	}
	var out []model.Decision
	return out, c.history(ctx, "decisions", v, &out)
}

// apiTime writes a time for the API's from and to (RFC 3339; the zero time is the epoch, so
// an open start reads everything).
func apiTime(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// history reads GET /api/history/<path>?<q> into out, as any other API call.
func (c *Client) history(ctx context.Context, path string, q url.Values, out any) error {
	if err := c.Call(ctx, http.MethodGet, "/history/"+path+"?"+q.Encode(), nil, out); err != nil {
		return fmt.Errorf("read history %s: %w", path, err)
	}
	return nil
}
