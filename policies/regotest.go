package policies

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
)

// RegoTestResult is the outcome of one Rego test rule.
type RegoTestResult struct {
	Package  string        `json:"package"`
	Name     string        `json:"name"`
	Pos      Pos           `json:"pos"`
	Pass     bool          `json:"pass"`
	Skip     bool          `json:"skip,omitempty"`
	Err      string        `json:"error,omitempty"`
	Output   string        `json:"output,omitempty"` // print() output
	Duration time.Duration `json:"duration"`
}

func (r RegoTestResult) String() string {
	outcome := "PASS"
	switch {
	case r.Skip:
		outcome = "SKIP"
	case r.Err != "":
		outcome = "ERROR: " + r.Err
	case !r.Pass:
		outcome = "FAIL"
	}
	return fmt.Sprintf("%s: %s.%s: %s (%s)", r.Pos, r.Package, r.Name, outcome, r.Duration.Round(time.Microsecond))
}

// TestRego is `opa test` for the policy directory: it runs every test_* rule of the .rego files
// under dir (governance modules and *_test.rego files together) and returns one result per test,
// ordered by position. The error reports modules that do not parse or compile (with
// file:line:col); failing tests are results, not errors.
func TestRego(ctx context.Context, dir string) ([]RegoTestResult, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".rego") {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("rego tests: %w", err)
	}
	var pr problems
	mods := map[string]*ast.Module{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("rego tests: %w", err)
		}
		m, err := ast.ParseModuleWithOpts(p, string(data), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			addRegoErrors(&pr, p, err)
			continue
		}
		mods[p] = m
	}
	if err := pr.err(); err != nil {
		return nil, err
	}
	ch, err := tester.NewRunner().
		SetDefaultRegoVersion(ast.RegoV1).
		SetModules(mods).
		CapturePrintOutput(true).
		SetTimeout(30*time.Second).
		RunTests(ctx, nil)
	if err != nil {
		addRegoErrors(&pr, "", err)
		return nil, pr.err()
	}
	var out []RegoTestResult
	for r := range ch {
		res := RegoTestResult{Package: strings.TrimPrefix(r.Package, "data."), Name: r.Name, Pass: r.Pass(),
			Skip: r.Skip, Output: string(r.Output), Duration: r.Duration}
		if r.Location != nil {
			res.Pos = Pos{File: r.Location.File, Line: r.Location.Row, Col: r.Location.Col}
		}
		if r.Error != nil {
			res.Err = r.Error.Error()
		}
		out = append(out, res)
	}
	slices.SortFunc(out, func(a, b RegoTestResult) int { return comparePos(a.Pos, b.Pos) })
	return out, nil
}

func addRegoErrors(pr *problems, file string, err error) {
	var list ast.Errors
	switch e := err.(type) {
	case ast.Errors:
		list = e
	case *ast.Error:
		list = ast.Errors{e}
	default:
		pr.add(Pos{File: file}, "rego: %v", err)
		return
	}
	for _, e := range list {
		pos := Pos{File: file, Line: 1, Col: 1}
		if e.Location != nil {
			if e.Location.File != "" {
				pos.File = e.Location.File
			}
			pos.Line, pos.Col = e.Location.Row, e.Location.Col
		}
		pr.add(pos, "rego: %s", e.Message)
	}
}

// WriteRegoResults writes one line per Rego test result and returns how many failed.
func WriteRegoResults(w io.Writer, results []RegoTestResult) (failed int) {
	for _, r := range results {
		fmt.Fprintln(w, r.String())
		if !r.Pass && !r.Skip {
			failed++
		}
	}
	return failed
}
