package main

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// repoRoot is the repository's top directory, seen from this package.
const repoRoot = "../.."

// docBlock is one fenced shell block of a document, marked runnable.
type docBlock struct {
	file   string // relative to the repository root
	line   int    // of the opening fence
	script string
}

// runnableDocs lists the files whose runnable blocks TestDocsRunnable runs, in the order it
// runs them: README.md, docs/*.md, then every README.md under examples/.
func runnableDocs(root string) ([]string, error) {
	files := []string{"README.md"}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		files = append(files, filepath.Join("docs", filepath.Base(d)))
	}
	err = filepath.WalkDir(filepath.Join(root, "examples"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "README.md" {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
		}
		return nil
	})
	return files, err
}

// runnableBlocks returns the fenced blocks of a Markdown document whose info string is a shell
// ("sh" or "bash") followed by the word "runnable", e.g. ```sh runnable. An unterminated fence
// is an error, so a typo cannot hide the rest of a file.
func runnableBlocks(file, text string) ([]docBlock, error) {
	var (
		out     []docBlock
		cur     *docBlock
		fence   string
		body    strings.Builder
		lineNum int
	)
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lineNum++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if fence == "" {
			if !strings.HasPrefix(trimmed, "```") && !strings.HasPrefix(trimmed, "~~~") {
				continue
			}
			marker := trimmed[:3]
			fence = marker
			info := strings.Fields(strings.TrimLeft(trimmed, marker[:1]))
			cur = nil
			if len(info) >= 2 && (info[0] == "sh" || info[0] == "bash") && info[1] == "runnable" {
				cur = &docBlock{file: file, line: lineNum}
				body.Reset()
			}
			continue
		}
		if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]) == "" {
			if cur != nil {
				cur.script = body.String()
				out = append(out, *cur)
			}
			fence, cur = "", nil
			continue
		}
		if cur != nil {
			body.WriteString(line)
			body.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if fence != "" {
		return nil, fmt.Errorf("%s: a fenced block is not closed", file)
	}
	return out, nil
}

func TestRunnableBlocksParse(t *testing.T) {
	t.Parallel()
	doc := "intro\n```sh runnable\necho one\n```\n\n```sh\nnot run\n```\n~~~bash runnable extra\necho two\n~~~\n```yaml\nrunnable: no\n```\n"
	got, err := runnableBlocks("x.md", doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []docBlock{{file: "x.md", line: 2, script: "echo one\n"}, {file: "x.md", line: 9, script: "echo two\n"}}
	if len(got) != len(want) {
		t.Fatalf("blocks = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("block %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := runnableBlocks("y.md", "```sh runnable\necho\n"); err == nil {
		t.Error("an unclosed fence was accepted")
	}
}

// TestDocsRunnable runs every block marked runnable in the README, docs/ and the examples'
// READMEs, in order, with bash -euo pipefail from the repository root, against one `strata up`
// on free ports and a fresh data dir: the commands the documentation shows work as written.
// docs/contributing.md describes the marker and the environment a block gets.
func TestDocsRunnable(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("bash: %v", err)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	files, err := runnableDocs(root)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []docBlock
	perFile := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		bs, err := runnableBlocks(f, string(b))
		if err != nil {
			t.Fatal(err)
		}
		perFile[f] = len(bs)
		blocks = append(blocks, bs...)
	}
	// The README and every page of docs/ that shows commands must keep them runnable; a marker
	// lost in an edit would otherwise make this test pass by running nothing.
	for _, f := range []string{"README.md", "docs/cli.md", "docs/operations.md", "docs/policies.md", "docs/stratos-wire.md",
		"examples/policies/README.md", "examples/demo/README.md", "examples/stratos/README.md"} {
		if perFile[f] == 0 {
			t.Errorf("%s has no runnable block", f)
		}
	}

	// The platform runs the race-detector build TestMain made; the blocks' own strata commands
	// use a plain build of the same package, which starts in a tenth of the time.
	binDir := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "strata"), ".").CombinedOutput(); err != nil {
		t.Fatalf("build strata: %v\n%s", err, out)
	}
	const password = "docs-admin-pass"
	a, args := upArgs(t)
	p := start(t, []string{"STRATA_ADMIN_PASSWORD=" + password}, args...)
	p.waitHTTP(t, "http://"+a.api+"/healthz")

	env := append(os.Environ(),
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"STRATA_URL=http://"+a.api,
		"STRATA_USER=admin",
		"STRATA_PASSWORD="+password,
		"STRATA_TOKEN=",
	)
	for _, b := range blocks {
		name := fmt.Sprintf("%s:%d", b.file, b.line)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := exec.CommandContext(ctx, bash, "-euo", "pipefail", "-c", b.script)
		cmd.Dir = root
		cmd.Env = env
		cmd.WaitDelay = 5 * time.Second
		began := time.Now()
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("%s: runnable block failed after %v: %v\n--- block\n%s--- output\n%s", name, time.Since(began).Round(time.Millisecond), err, b.script, out)
			continue
		}
		t.Logf("%s: ok in %v", name, time.Since(began).Round(time.Millisecond))
	}
}
