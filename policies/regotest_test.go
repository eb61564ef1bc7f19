package policies

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTestRegoExamples(t *testing.T) {
	res, err := TestRego(context.Background(), examplesDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 7 {
		t.Errorf("got %d results, want 7", len(res))
	}
	for _, r := range res {
		if !r.Pass {
			t.Error(r)
		}
		if !strings.HasSuffix(r.Pos.File, "governance_test.rego") || r.Pos.Line == 0 {
			t.Errorf("position %v", r.Pos)
		}
	}
}

func TestTestRegoFailureAndSyntax(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "p.rego", "package strata.governance\n\ndeny contains \"no\" if input.x > 1\n")
	write(t, dir, "p_test.rego", "package strata.governance_test\n\nimport data.strata.governance\n\n"+
		"test_passes if { count(governance.deny) == 0 with input as {\"x\": 0} }\n\n"+
		"test_fails if { count(governance.deny) == 0 with input as {\"x\": 5} }\n")
	res, err := TestRego(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range res {
		got[r.Name] = r.Pass
	}
	if !got["test_passes"] || got["test_fails"] || len(got) != 2 {
		t.Errorf("results = %v", res)
	}
	write(t, dir, "bad_test.rego", "package x\n\ntest_x if {\n")
	if _, err := TestRego(context.Background(), dir); err == nil || !strings.Contains(err.Error(), "bad_test.rego:") {
		t.Errorf("syntax error = %v, want a position in bad_test.rego", err)
	}
}

func write(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
