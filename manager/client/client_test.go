package client

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestLookupKind(t *testing.T) {
	for _, tc := range []struct {
		name, spelling, want string
		ok                   bool
	}{
		{name: "singular", spelling: "autoscaling-policy", want: "autoscaling-policy", ok: true},
		{name: "plural", spelling: "autoscaling-policies", want: "autoscaling-policy", ok: true},
		{name: "REST collection", spelling: "autoscalingPolicies", want: "autoscaling-policy", ok: true},
		{name: "singular REST name", spelling: "autoscalingPolicy", want: "autoscaling-policy", ok: true},
		{name: "upper case with underscores", spelling: "CARTRIDGE_GROUPS", want: "cartridge-group", ok: true},
		{name: "unknown", spelling: "kubernetesClusters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, ok := LookupKind(tc.spelling)
			if ok != tc.ok || k.Name != tc.want {
				t.Errorf("LookupKind(%q) = %q, %t; want %q, %t", tc.spelling, k.Name, ok, tc.want, tc.ok)
			}
		})
	}
}

// An API error carries the status and Stratos' message; the credentials are Basic unless a
// token is set.
func TestCall(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); ok && user == "admin" && pass == "secret" && r.URL.Path == "/api/cartridges" {
			_, _ = w.Write([]byte(`[{"type":"php"}]`))
			return
		}
		if r.Header.Get("Authorization") == "Bearer tok" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"status":"error","message":"no such thing"}`))
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer ts.Close()
	ctx := context.Background()
	var items []map[string]any
	if err := (&Client{URL: ts.URL + "/", User: "admin", Password: "secret"}).Call(ctx, http.MethodGet, "/cartridges", nil, &items); err != nil || len(items) != 1 {
		t.Errorf("Call = %v, %v; want one item", items, err)
	}
	err := (&Client{URL: ts.URL, User: "admin", Password: "secret", Token: "tok"}).Call(ctx, http.MethodGet, "/x", nil, nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != http.StatusNotFound || err.Error() != "404 Not Found: no such thing" {
		t.Errorf("Call with a token = %v; want the 404 and its message", err)
	}
}

// Converge stops at the first start failure when asked to, with its reason.
func TestConvergeStopsAtStartFailure(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"id":"app","status":"Deployed","applicationInstances":[{"clusterInstances":[{"instanceId":"i-1",
			"clusterId":"c-1","status":"Created","startFailure":{"reason":"no image","failures":2,"time":"2026-12-06T05:00:00Z"}}]}]}`))
	}))
	defer ts.Close()
	var progress bytes.Buffer
	err := (&Client{URL: ts.URL}).Converge(context.Background(), "app", Converge{Timeout: time.Minute, Poll: time.Millisecond,
		FailOnStart: true, Done: Deployed, Progress: &progress})
	if err == nil || !strings.Contains(err.Error(), "cannot start a member of cluster c-1 instance i-1: no image (2 failed starts") {
		t.Errorf("Converge = %v; want the start failure", err)
	}
	if !strings.Contains(progress.String(), "app Deployed: clusters active 0/1, members active 0/0") {
		t.Errorf("progress %q", progress.String())
	}
}
