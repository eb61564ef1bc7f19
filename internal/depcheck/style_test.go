package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Two house rules that are cheap to check on the syntax tree, beside the dependency rule: a
// library package never logs to slog.Default() (a nil Options.Logger discards), and log
// messages are lower-case sentences, not snake_case identifiers.

var snakeCase = regexp.MustCompile(`^[a-z0-9]+(_[a-z0-9]+)+$`)

var logMethods = map[string]int{ // method name -> index of the message argument
	"Debug": 0, "Info": 0, "Warn": 0, "Error": 0,
	"DebugContext": 1, "InfoContext": 1, "WarnContext": 1, "ErrorContext": 1,
}

// sourceFiles parses every non-test, non-generated Go file of the module.
func sourceFiles(t *testing.T) (*token.FileSet, []*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	var files []*ast.File
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "gen" || name == "testdata" || (strings.HasPrefix(name, ".") && path != "../..") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		if !ast.IsGenerated(f) {
			files = append(files, f)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 100 {
		t.Fatalf("found %d Go files under the module root, want the whole module", len(files))
	}
	return fset, files
}

func TestLibrariesDoNotLogToDefault(t *testing.T) {
	fset, files := sourceFiles(t)
	for _, f := range files {
		if f.Name.Name == "main" {
			continue // a program chooses its logger
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "Default" {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "slog" {
					t.Errorf("%s: slog.Default() in a library: a nil Options.Logger discards", fset.Position(sel.Pos()))
				}
			}
			return true
		})
	}
}

func TestLogMessagesAreSentences(t *testing.T) {
	fset, files := sourceFiles(t)
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			i, ok := logMethods[sel.Sel.Name]
			if !ok || len(call.Args) <= i {
				return true
			}
			lit, ok := call.Args[i].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if msg, err := strconv.Unquote(lit.Value); err == nil && snakeCase.MatchString(msg) {
				t.Errorf("%s: log message %q: write it as a lower-case sentence", fset.Position(lit.Pos()), msg)
			}
			return true
		})
	}
}
