// Command depcheck enforces the dependency direction of docs/architecture.md: each top-level
// component may import only the packages listed for it. It runs `go list -deps` and exits 1
// naming every forbidden import. `make check` runs it, and TestDependencyRule runs the same check
// under `go test ./...`.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
)

const module = "github.com/strata-paas/strata/"

// allowed lists, per component, the module packages it may import (besides itself and its own
// subpackages); "*" is every component but cmd and bench, which nothing imports. internal/testenv
// is imported by tests only, which `go list` .Imports leaves out, so any non-test import of it is
// reported.
var allowed = map[string][]string{
	"internal/model":      {},
	"internal/clock":      {},
	"internal/bus":        {"internal/model"},
	"internal/databridge": {"internal/model"},
	"internal/testenv":    {},
	// A driver's test kubelet and API server: a component of its own (not part of the
	// controller's), imported by tests only, like internal/testenv.
	"controller/kubernetes/kubetest": {"internal/testenv"},
	"internal/depcheck":              {},
	"internal/completion":            {},
	"internal/buildinfo":             {},
	"internal/demo":                  {"internal/model", "policies", "controller", "autoscaler"}, // for their types; see docs/architecture.md
	"rules":                          {"internal/model"},
	"policies":                       {"internal/model", "rules"},
	"cep":                            {"internal/model", "internal/clock", "internal/bus", "internal/databridge", "history"},
	"history":                        {"internal/model"},
	"autoscaler":                     {"internal/model", "internal/clock", "internal/bus", "rules", "policies", "history"},
	"controller":                     {"internal/model", "internal/clock", "internal/bus", "history"},
	"manager":                        {"internal/model", "internal/bus", "policies", "history"},
	"agent":                          {"internal/model", "internal/bus", "internal/databridge"},
	"lb":                             {"internal/model", "internal/bus", "internal/databridge"},
	"console":                        {"internal/model", "autoscaler"}, // the trace's text; the API comes in as an http.Handler
	"internal/app":                   {"*"},
	"cmd":                            {"*"},
	"bench":                          {"*"},
}

// component maps a package path inside the module to the component it belongs to. A test-helper
// package listed in allowed under its own path is a component of its own.
func component(rel string) string {
	for c := range allowed {
		if strings.Contains(c, "/") && !strings.HasPrefix(c, "internal/") && (rel == c || strings.HasPrefix(rel, c+"/")) {
			return c
		}
	}
	parts := strings.Split(rel, "/")
	if parts[0] == "internal" && len(parts) > 1 {
		return "internal/" + parts[1]
	}
	return parts[0]
}

func main() {
	problems, err := check(".")
	if err != nil {
		fmt.Fprintf(os.Stderr, "depcheck: %v\n", err)
		os.Exit(2)
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "depcheck:", p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}

// check lists the packages of the module in dir and returns the forbidden imports, sorted.
func check(dir string) ([]string, error) {
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	return problems(out), nil
}

// problems applies the rule to the output of go list: one line per package, its import path
// followed by its imports.
func problems(list []byte) []string {
	var problems []string
	sc := bufio.NewScanner(bytes.NewReader(list))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || !strings.HasPrefix(fields[0], module) {
			continue
		}
		from := component(strings.TrimPrefix(fields[0], module))
		rules, known := allowed[from]
		if !known {
			problems = append(problems, fmt.Sprintf("%s: component %q is not in docs/architecture.md's dependency rule", fields[0], from))
			continue
		}
		for _, imp := range fields[1:] {
			if from == "internal/model" && strings.Contains(strings.Split(imp, "/")[0], ".") {
				problems = append(problems, fmt.Sprintf("%s imports %s: internal/model uses the standard library only", fields[0], imp))
				continue
			}
			if !strings.HasPrefix(imp, module) {
				continue
			}
			to := component(strings.TrimPrefix(imp, module))
			if to == from || ok(rules, to) {
				continue
			}
			problems = append(problems, fmt.Sprintf("%s imports %s: %s may import only %v", fields[0], imp, from, rules))
		}
	}
	sort.Strings(problems)
	return problems
}

func ok(rules []string, to string) bool {
	for _, r := range rules {
		if r == to || (r == "*" && to != "cmd" && to != "bench") {
			return true
		}
	}
	return false
}
