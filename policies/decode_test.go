package policies

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const validNP = `kind: NetworkPartition
id: np-1
provider: mock
partitions:
  - id: p1
  - id: p2
`

const validAS = `kind: AutoscalingPolicy
id: as-1
loadThresholds:
  requestsInFlight: {threshold: 20}
  memoryConsumption: {threshold: 70}
  loadAverage: {threshold: 70}
`

// loadString loads a directory holding the files (name → content) and returns the problems as
// "file:line:col: message" strings with the directory stripped.
func loadFiles(t *testing.T, files map[string]string) (*Set, []string) {
	t.Helper()
	dir := t.TempDir()
	for name, c := range files {
		write(t, dir, name, c)
	}
	set, err := LoadDir(dir)
	var out []string
	for _, e := range Errors(err) {
		out = append(out, strings.TrimPrefix(e.Error(), dir+"/"))
	}
	if err != nil && len(out) == 0 {
		t.Fatalf("error without positions: %v", err)
	}
	return set, out
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // each a prefix "file:line:col: " plus a substring of the message, split by "|"
	}{
		{
			name:  "unknown field",
			files: map[string]string{"a.yaml": validAS + "loadThreshold: {}\n"},
			want:  []string{`a.yaml:7:1: |unknown field "loadThreshold" (did you mean "loadThresholds"?)`},
		},
		{
			name:  "unknown nested field",
			files: map[string]string{"a.yaml": strings.Replace(validAS, "{threshold: 20}", "{threshold: 20, treshold: 3}", 1)},
			want:  []string{`a.yaml:4:37: |unknown field "treshold" (did you mean "threshold"?)`},
		},
		{
			name:  "wrong type",
			files: map[string]string{"a.yaml": strings.Replace(validAS, "threshold: 70}\n  load", "threshold: high}\n  load", 1)},
			want:  []string{`a.yaml:5:34: |expected a number, got "high"`},
		},
		{
			name:  "string for a number is not accepted in YAML",
			files: map[string]string{"a.yaml": strings.Replace(validAS, "{threshold: 20}", `{threshold: "20"}`, 1)},
			want:  []string{`a.yaml:4:33: |expected a number, got "20"`},
		},
		{
			name:  "list expected",
			files: map[string]string{"np.yaml": "kind: NetworkPartition\nid: x\nprovider: mock\npartitions: p1\n"},
			want:  []string{`np.yaml:4:13: |expected a list, got "p1"`},
		},
		{
			name:  "expr type error",
			files: map[string]string{"a.yaml": validAS + "rules:\n  - name: r\n    scaleUp: tenantId > 3\n"},
			want:  []string{`a.yaml:9:23: |rule r: invalid operation: > (mismatched types string and int)`},
		},
		{
			name:  "expr error in a quoted scalar",
			files: map[string]string{"a.yaml": validAS + "rules:\n  - name: r\n    scaleUp: 'active > 1 && nope'\n"},
			want:  []string{`a.yaml:9:29: |unknown name nope`},
		},
		{
			name:  "expr error in a block scalar",
			files: map[string]string{"a.yaml": validAS + "rules:\n  - name: r\n    required: |\n      active > 1\n        ? required + \"x\"\n        : required\n"},
			want:  []string{`a.yaml:11:20: |rule r: invalid operation: + (mismatched types int and string)`},
		},
		{
			name:  "expr wrong result kind",
			files: map[string]string{"a.yaml": validAS + "rules:\n  - name: r\n    required: active > 1\n"},
			want:  []string{`a.yaml:9:15: |expected a number`},
		},
		{
			name:  "rule with two targets",
			files: map[string]string{"a.yaml": validAS + "rules:\n  - name: r\n    required: active\n    scaleUp: true\n"},
			want:  []string{`a.yaml:8:5: |exactly one of required, scaleUp or scaleDown`},
		},
		{
			name:  "rego syntax error",
			files: map[string]string{"g.rego": "package strata.governance\n\ndeny contains msg if {\n\tmsg := \n}\n"},
			want:  []string{`g.rego:5:1: |rego: unexpected } token`},
		},
		{
			name:  "rego wrong package",
			files: map[string]string{"g.rego": "package other\n\ndeny contains \"x\" if input.a\n"},
			want:  []string{`g.rego:1:1: |package strata.governance`},
		},
		{
			name: "deployment policy naming a missing network partition and partition",
			files: map[string]string{"np.yaml": validNP, "d.yaml": `kind: DeploymentPolicy
id: d1
networkPartitions:
  - id: np-1
    partitions:
      - {id: p1, partitionMax: 3}
      - {id: p9, partitionMax: 3}
  - id: np-missing
    partitions:
      - {id: p1, partitionMax: 3}
`},
			want: []string{`d.yaml:7:14: |network partition np-1 has no partition "p9"`, `d.yaml:8:9: |network partition "np-missing" does not exist`},
		},
		{
			name: "application policy naming a missing network partition",
			files: map[string]string{"np.yaml": validNP,
				"a.yaml": "kind: ApplicationPolicy\nid: a1\nnetworkPartitions: [np-1, np-2]\n"},
			want: []string{`a.yaml:3:27: |network partition "np-2" does not exist`},
		},
		{
			name:  "duplicate id across files",
			files: map[string]string{"a.yaml": validAS, "b.yaml": "# comment\n" + validAS},
			want:  []string{`b.yaml:2:1: |duplicate autoscaling policy id "as-1" (first defined at `},
		},
		{
			name:  "duplicate key",
			files: map[string]string{"a.yaml": validAS + "id: again\n"},
			want:  []string{`a.yaml:7:1: |duplicate field "id"`},
		},
		{
			name:  "multi-document file: problems in the second and third documents",
			files: map[string]string{"m.yaml": validNP + "---\n" + strings.Replace(validAS, "as-1", "as-2", 1) + "mode: sometimes\n---\nkind: Nonsense\n"},
			want:  []string{`m.yaml:14:7: |mode "sometimes"`, `m.yaml:16:7: |unknown kind "Nonsense"`},
		},
		{
			name:  "missing kind and missing id",
			files: map[string]string{"a.yaml": "id: x\n---\nkind: NetworkPartition\nprovider: mock\npartitions: [{id: p}]\n"},
			want:  []string{`a.yaml:1:1: |missing kind`, `a.yaml:3:1: |network partition: missing id`},
		},
		{
			name:  "yaml syntax error",
			files: map[string]string{"a.yaml": "kind: NetworkPartition\nid: [x\n"},
			want:  []string{`a.yaml:2:1: |yaml: did not find expected`},
		},
		{
			name:  "yaml syntax error in a flow list",
			files: map[string]string{"a.yaml": "kind: NetworkPartition\nid: x\npartitions: [a, b\nprovider: mock\n"},
			want:  []string{`a.yaml:3:1: |yaml: did not find expected ',' or ']'`},
		},
		{
			name:  "yaml tab indentation",
			files: map[string]string{"a.yaml": "kind: NetworkPartition\nid: x\npartitions:\n\t- id: p\n"},
			want:  []string{`a.yaml:4:1: |yaml: found character that cannot start any token`},
		},
		{
			name:  "shadow of a missing policy, bad behaviour",
			files: map[string]string{"a.yaml": validAS + "mode: shadow\nshadowOf: nope\nbehaviour:\n  tolerance: 1.5\n  scaleDown: {stabilizationWindow: soon}\n  missingMetrics: {action: floor}\n"},
			want: []string{`a.yaml:8:11: |shadows "nope", which does not exist`, `a.yaml:10:14: |tolerance`,
				`a.yaml:11:36: |expected a duration`, `a.yaml:12:19: |action floor needs floor`},
		},
		{
			name:  "stratos json of unknown kind",
			files: map[string]string{"misc/thing.json": `{"id": "x"}`},
			want:  []string{`misc/thing.json: |cannot tell the kind`},
		},
		{
			name:  "stratos json with a bad value, in a samples-like tree",
			files: map[string]string{"deployment-policies/d.json": "{\n  \"id\": \"d\",\n  \"networkPartitions\": [{\"id\": \"np\", \"partitions\": [{\"id\": \"p\", \"partitionMax\": \"many\"}]}]\n}\n"},
			want:  []string{`deployment-policies/d.json:3:81: |expected an integer, got "many"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, got := loadFiles(t, tt.files)
			if set != nil {
				t.Fatal("a set was returned with errors")
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %d problems, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for _, w := range tt.want {
				prefix, sub, _ := strings.Cut(w, "|")
				found := false
				for _, g := range got {
					if strings.HasPrefix(g, prefix) && strings.Contains(g, sub) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem %q in:\n%s", w, strings.Join(got, "\n"))
				}
			}
		})
	}
}

func TestAllProblemsAtOnce(t *testing.T) {
	_, got := loadFiles(t, map[string]string{
		"a.yaml": validAS + "bogus: 1\nrules:\n  - scaleUp: active > 'x'\n",
		"b.yaml": "kind: DeploymentPolicy\nid: d\nnetworkPartitions: [{id: nowhere, partitions: [{id: p, partitionMax: -1}]}]\n",
		"g.rego": "package strata.governance\ndeny contains x if {\n",
	})
	if len(got) < 4 {
		t.Errorf("got %d problems, want every one:\n%s", len(got), strings.Join(got, "\n"))
	}
	files := map[string]bool{}
	for _, g := range got {
		files[strings.SplitN(g, ":", 2)[0]] = true
	}
	if !files["a.yaml"] || !files["b.yaml"] || !files["g.rego"] {
		t.Errorf("problems from %v, want all three files:\n%s", files, strings.Join(got, "\n"))
	}
}

func TestErrorsMatchSentinels(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", validAS+"---\n"+validAS)
	_, err := LoadDir(dir)
	if !errors.Is(err, ErrDuplicate) {
		t.Errorf("err = %v, want ErrDuplicate", err)
	}
	write(t, dir, "a.yaml", validAS+"x: 1\n")
	_, err = LoadDir(dir)
	var pe *Error
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &pe) || pe.Pos.Line != 7 {
		t.Errorf("err = %v, want ErrInvalid at line 7", err)
	}
}

func TestDecodeValid(t *testing.T) {
	set, errs := loadFiles(t, map[string]string{
		"np.yaml": validNP,
		"all.yaml": validAS + `displayName: x
rules:
  - name: floor
    required: max(required, 2)
  - scaleDown: 'false'
behaviour:
  scaleUp: {maxStep: 3}
  missingMetrics: {after: 2m, action: scale-out, step: 2}
---
kind: DeploymentPolicy
id: d
networkPartitions:
  - id: np-1
    partitionAlgo: round-robin
    partitions: [{id: p1, partitionMax: 2}, {id: p2, partitionMax: 0}]
---
kind: ApplicationPolicy
id: app
algorithm: all-at-once
networkPartitions: [np-1]
properties:
  - {name: networkPartitionGroups, value: np-1}
  - {name: other, value: "1"}
`,
	})
	if len(errs) > 0 {
		t.Fatal(strings.Join(errs, "\n"))
	}
	as, _ := set.Autoscaling("as-1")
	wantAS := &Autoscaling{ID: "as-1", DisplayName: "x", Mode: ModeEnforce,
		Thresholds: Thresholds{RequestsInFlight: 20, MemoryConsumption: 70, LoadAverage: 70},
		Rules: []Rule{{Name: "floor", Target: TargetRequired, Expr: "max(required, 2)"},
			{Name: "rule-2", Target: TargetScaleDown, Expr: "false"}},
		Behaviour: Behaviour{ScaleUp: Direction{MaxStep: 3},
			MissingMetrics: MissingMetrics{After: 2 * 60e9, Action: MissingScaleOut, Step: 2}},
	}
	if diff := cmp.Diff(wantAS, as, cmp.Comparer(func(a, b Pos) bool { return true }),
		cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Program" }, cmp.Ignore()),
		cmp.AllowUnexported(Autoscaling{}), cmp.FilterPath(func(p cmp.Path) bool {
			s := p.Last().String()
			return s == ".fp" || s == ".refs"
		}, cmp.Ignore())); diff != "" {
		t.Errorf("autoscaling (-want +got):\n%s", diff)
	}
	d, _ := set.Deployment("d")
	if d.NetworkPartitions[0].Algorithm != RoundRobin || d.NetworkPartitions[0].Partitions[1].Max != 0 {
		t.Errorf("deployment = %+v", d)
	}
	app, _ := set.Application("app")
	if app.Algorithm != AllAtOnce || !cmp.Equal(app.Groups, [][]string{{"np-1"}}) || len(app.Properties) != 2 {
		t.Errorf("application = %+v", app)
	}
	np, _ := set.NetworkPartition("np-1")
	if len(np.Partitions) != 2 || np.Partitions[0].ID != "p1" {
		t.Errorf("network partition = %+v", np)
	}
}

func TestDecodeYAMLDirect(t *testing.T) {
	ps, err := DecodeYAML("x.yaml", []byte(validNP+"---\n"+validAS+"---\n"))
	if err != nil || len(ps) != 2 {
		t.Fatalf("got %v, %v", ps, err)
	}
	_, err = DecodeYAML("x.yaml", []byte(validNP+"extra: 1\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "x.yaml:7:1: ") {
		t.Errorf("err = %v", err)
	}
}

func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("kind: NetworkPartition\nid: x\nprovider: mock\na0: &a0 [{id: p}]\n")
	for i := 1; i < 30; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1)
	}
	b.WriteString("partitions: *a29\n")
	_, err := DecodeYAML("bomb.yaml", []byte(b.String()))
	if err == nil {
		t.Fatal("no error")
	}
}
