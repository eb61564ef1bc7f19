package main

import (
	"slices"
	"strings"
	"testing"
)

// TestDependencyRule is `make check`'s depcheck as a test, so that `go test ./...` enforces the
// dependency direction of docs/architecture.md too.
func TestDependencyRule(t *testing.T) {
	problems, err := check("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestProblems checks that the rule reports what it must: an import against the direction, a
// component the rule does not know, and a non-standard import of internal/model.
func TestProblems(t *testing.T) {
	list := strings.Join([]string{
		module + "rules fmt " + module + "internal/model",
		module + "rules/sub " + module + "autoscaler",
		module + "internal/model github.com/google/uuid",
		module + "newcomp fmt",
		module + "cmd/strata " + module + "autoscaler " + module + "manager",
		module + "autoscaler/sub " + module + "autoscaler",
		module + "internal/app " + module + "autoscaler " + module + "manager " + module + "bench",
		module + "cmd/strata " + module + "internal/app",
		module + "controller/kubernetes/kubetest " + module + "internal/testenv",
		module + "controller/kubernetes " + module + "controller/kubernetes/kubetest",
	}, "\n")
	got := problems([]byte(list))
	want := []string{
		module + "controller/kubernetes imports " + module + "controller/kubernetes/kubetest: controller may import only [internal/model internal/clock internal/bus history]",
		module + "internal/app imports " + module + "bench: internal/app may import only [*]",
		module + "internal/model imports github.com/google/uuid: internal/model uses the standard library only",
		module + `newcomp: component "newcomp" is not in docs/architecture.md's dependency rule`,
		module + "rules/sub imports " + module + "autoscaler: rules may import only [internal/model]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
