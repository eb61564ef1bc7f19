package rules

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const denyPolicy = `package strata.governance

deny contains msg if {
	input.action == "scale-up"
	input.tenant_members + input.delta > 5
	msg := sprintf("tenant %s would exceed its quota of 5 members", [input.tenant_id])
}

deny contains msg if {
	input.action == "scale-up"
	input.time.hour < 6
	msg := "no scale-up before 06:00 UTC"
}
`

const denyQuery = "data.strata.governance.deny"

func TestRegoDeny(t *testing.T) {
	ctx := context.Background()
	q, err := CompileRego(ctx, map[string]string{"deny.rego": denyPolicy}, denyQuery)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   any
		want []string
	}{
		{name: "allowed", in: Proposal{Action: "scale-up", Delta: 1, TenantID: "t1", TenantMembers: 2, Hour: 12}},
		{name: "quota", in: Proposal{Action: "scale-up", Delta: 2, TenantID: "t1", TenantMembers: 4, Hour: 12},
			want: []string{"tenant t1 would exceed its quota of 5 members"}},
		{name: "both", in: &Proposal{Action: "scale-up", Delta: 2, TenantID: "t1", TenantMembers: 4, Hour: 3},
			want: []string{"no scale-up before 06:00 UTC", "tenant t1 would exceed its quota of 5 members"}},
		{name: "scale-down never denied", in: Proposal{Action: "scale-down", Delta: -1, TenantMembers: 9, Hour: 3}},
		{name: "map input", in: map[string]any{"action": "scale-up", "delta": 1, "tenant_id": "t9", "tenant_members": 5, "time": map[string]any{"hour": 10}},
			want: []string{"tenant t9 would exceed its quota of 5 members"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := q.Eval(ctx, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Defined {
				t.Error("deny undefined")
			}
			if diff := cmp.Diff(tt.want, r.Messages); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			if r.Denied() != (len(tt.want) > 0) {
				t.Errorf("Denied = %v", r.Denied())
			}
		})
	}
}

func TestRegoDecideCache(t *testing.T) {
	ctx := context.Background()
	q, err := CompileRego(ctx, map[string]string{"deny.rego": denyPolicy}, denyQuery)
	if err != nil {
		t.Fatal(err)
	}
	p := Proposal{Action: "scale-up", Delta: 3, TenantID: "t1", TenantMembers: 4, Hour: 12}
	r1, err := q.Decide(ctx, p)
	if err != nil || r1.Cached || !r1.Denied() {
		t.Fatalf("first = %+v, %v", r1, err)
	}
	r2, err := q.Decide(ctx, p)
	if err != nil || !r2.Cached || !cmp.Equal(r1.Messages, r2.Messages) {
		t.Fatalf("second = %+v, %v", r2, err)
	}
	p.Minute = 1
	if r3, _ := q.Decide(ctx, p); r3.Cached {
		t.Error("a different minute was answered from the cache")
	}
	if h, m := q.CacheStats(); h != 1 || m != 2 {
		t.Errorf("stats = %d hits %d misses, want 1 and 2", h, m)
	}
}

func TestCompileRegoErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		modules map[string]string
		query   string
		want    []string // "file:line:col" prefixes
	}{
		{name: "syntax", modules: map[string]string{"a.rego": "package p\n\ndeny contains msg if {\n\tmsg := \n}\n"},
			query: "data.p.deny", want: []string{"a.rego:5:1: unexpected } token"}},
		{name: "two files", modules: map[string]string{
			"a.rego": "package p\n\ndeny contains 1 if {\n",
			"b.rego": "package p\nallow if { input.x ==== 1 }\n"},
			query: "data.p.deny", want: []string{"a.rego:", "b.rego:2:"}},
		{name: "unsafe var", modules: map[string]string{"a.rego": "package p\n\ndeny contains msg if {\n\tinput.x > 1\n}\n"},
			query: "data.p.deny", want: []string{"a.rego:3:"}},
		{name: "rego v0 syntax", modules: map[string]string{"a.rego": "package p\n\ndeny[msg] {\n\tmsg := \"x\"\n}\n"},
			query: "data.p.deny", want: []string{"a.rego:3:"}},
		{name: "bad query", modules: map[string]string{"a.rego": "package p\n"}, query: "data.p.deny ===", want: []string{"query:1:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompileRego(ctx, tt.modules, tt.query)
			if err == nil {
				t.Fatal("no error")
			}
			var re *RegoError
			if !errors.As(err, &re) {
				t.Fatalf("%v: no *RegoError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
