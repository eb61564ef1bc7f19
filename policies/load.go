package policies

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// LoadDir reads every policy file under dir (recursively; names starting with "." are skipped)
// and returns the validated Set. On any problem it returns no Set and every problem, joined, each
// an *Error with file:line:col.
//
//   - *.yaml, *.yml: one or more YAML documents, each with a kind (AutoscalingPolicy,
//     DeploymentPolicy, ApplicationPolicy, NetworkPartition);
//   - *.json: one Stratos JSON policy; its kind comes from the file or directory name, as in
//     Stratos' samples tree: autoscaling-policies, deployment-policies, application-policies,
//     network-partitions (so "network-partitions/mock/np-1.json" and
//     "deployment-policies__dp-1.json" both work);
//   - *.rego: a governance module (package strata.governance, entrypoint deny);
//   - *_test.yaml, *_test.yml: fixtures for `strata policy test` (see LoadFixtures), skipped here;
//   - *_test.rego: Rego unit tests (see TestRego), skipped here;
//   - anything else is ignored.
func LoadDir(dir string) (*Set, error) {
	return loadDir(context.Background(), dir, nil)
}

func loadDir(ctx context.Context, dir string, prev *Set) (*Set, error) {
	files, err := policyFiles(dir)
	if err != nil {
		return nil, err
	}
	var pr problems
	var ps []Policy
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("load policies: %w", err)
		}
		ps = append(ps, decodeFile(dir, f, data, &pr)...)
	}
	set, err := build(ctx, ps, prev)
	if err != nil {
		pr.errs = append(pr.errs, err)
	}
	if err := pr.err(); err != nil {
		return nil, err
	}
	return set, nil
}

// policyFiles lists the policy files under dir, sorted. Symbolic links to files count (a
// Kubernetes ConfigMap volume is made of them).
func policyFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if path != dir && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
				return nil
			}
		}
		if fileKind(name) != "" {
			out = append(out, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load policies: %w", err)
	}
	slices.Sort(out)
	return out, nil
}

// fileKind classifies a file name: "yaml", "json", "rego", "fixture", "regotest" or "".
func fileKind(name string) string {
	switch ext := filepath.Ext(name); ext {
	case ".yaml", ".yml":
		if strings.HasSuffix(strings.TrimSuffix(name, ext), "_test") {
			return "fixture"
		}
		return "yaml"
	case ".json":
		return "json"
	case ".rego":
		if strings.HasSuffix(name, "_test.rego") {
			return "regotest"
		}
		return "rego"
	}
	return ""
}

func decodeFile(dir, path string, data []byte, pr *problems) []Policy {
	switch fileKind(filepath.Base(path)) {
	case "yaml":
		return decodeYAML(path, data, pr)
	case "json":
		rel, _ := filepath.Rel(dir, path)
		kind := stratosKind(filepath.ToSlash(rel))
		if kind == "" {
			pr.add(Pos{File: path}, "cannot tell the kind of Stratos JSON file: put it under autoscaling-policies/, deployment-policies/, application-policies/ or network-partitions/ (or start its name so)")
			return nil
		}
		p, err := decodeStratos(path, kind, data)
		if err != nil {
			pr.errs = append(pr.errs, err)
			return nil
		}
		return []Policy{p}
	case "rego":
		rel, _ := filepath.Rel(dir, path)
		return []Policy{NewGovernance(filepath.ToSlash(rel), path, string(data))}
	}
	return nil
}

var stratosDirs = []struct {
	prefix string
	kind   Kind
}{
	{"autoscaling-policies", KindAutoscaling},
	{"deployment-policies", KindDeployment},
	{"application-policies", KindApplication},
	{"network-partitions", KindNetworkPartition},
}

func stratosKind(rel string) Kind {
	for _, part := range strings.Split(rel, "/") {
		for _, d := range stratosDirs {
			if strings.HasPrefix(part, d.prefix) {
				return d.kind
			}
		}
	}
	return ""
}

// DecodeYAML decodes the policy documents of one YAML file (file names it in positions). It
// checks each policy alone and returns every problem; cross references are checked when the
// policies join a Set (Set.With).
func DecodeYAML(file string, data []byte) ([]Policy, error) {
	var pr problems
	ps := decodeYAML(file, data, &pr)
	if err := pr.err(); err != nil {
		return nil, err
	}
	return ps, nil
}

func decodeYAML(file string, data []byte, pr *problems) []Policy {
	d := &decoder{file: file, lines: strings.Split(string(data), "\n"), p: pr}
	var out []Policy
	for _, root := range yamlDocs(file, data, pr) {
		d.nodes = 0
		if p := d.document(root); p != nil {
			out = append(out, p)
		}
	}
	return out
}

func (d *decoder) document(root *yaml.Node) Policy {
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "expected a policy (a mapping with a kind), got %s", describe(root))
		return nil
	}
	kind := kindNode(root)
	if kind == nil {
		d.errorf(root, "missing kind: want AutoscalingPolicy, DeploymentPolicy, ApplicationPolicy, NetworkPartition or Application")
		return nil
	}
	switch Kind(kind.Value) {
	case KindAutoscaling:
		return decodeInto(d, root, convertAutoscaling)
	case KindDeployment:
		return decodeInto(d, root, convertDeployment)
	case KindApplication:
		return decodeInto(d, root, convertApplication)
	case KindNetworkPartition:
		return decodeInto(d, root, convertNetworkPartition)
	case KindAppDefinition:
		// Not a policy: checked here alone, with the policies by LoadApps.
		var f fileApp
		d.decode(root, reflect.ValueOf(&f).Elem())
		convertApp(&f, d.p)
		return nil
	}
	d.errorf(kind, "unknown kind %q: want AutoscalingPolicy, DeploymentPolicy, ApplicationPolicy, NetworkPartition or Application", kind.Value)
	return nil
}

// decodeInto decodes root into a file-shaped F and converts it. A policy with decoding problems
// is still converted, so that its other problems are reported in the same run.
func decodeInto[F any, P Policy](d *decoder, root *yaml.Node, convert func(*F, *problems) P) Policy {
	var f F
	d.decode(root, reflect.ValueOf(&f).Elem())
	return convert(&f, d.p)
}

// DecodeStratosJSON decodes one policy in Stratos' REST JSON (docs/stratos-wire.md §5.1-§5.4), as the
// REST API receives it: numbers and booleans may be strings, unknown keys are errors, the
// Strata extensions of the YAML format (mode, rules, behaviour) are accepted. Positions in the
// errors are line:col of data, with file "request". Cross references are checked when the policy
// joins a Set (Set.With).
func DecodeStratosJSON(kind Kind, data []byte) (Policy, error) {
	return decodeStratos("request", kind, data)
}

func decodeStratos(file string, kind Kind, data []byte) (Policy, error) {
	var pr problems
	root := jsonNode(file, data, &pr)
	if root == nil {
		return nil, pr.err()
	}
	d := &decoder{file: file, lenient: true, p: &pr}
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "expected a JSON object, got %s", describe(root))
		return nil, pr.err()
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if k := root.Content[i]; k.Value == "kind" && root.Content[i+1].Value != string(kind) {
			d.errorf(root.Content[i+1], "kind %q does not match %s", root.Content[i+1].Value, kind)
		}
	}
	var p Policy
	switch kind {
	case KindAutoscaling:
		p = decodeInto(d, root, convertAutoscaling)
	case KindDeployment:
		p = decodeInto(d, root, convertDeployment)
	case KindApplication:
		p = decodeInto(d, root, convertApplication)
	case KindNetworkPartition:
		p = decodeInto(d, root, convertNetworkPartition)
	default:
		return nil, fmt.Errorf("%w: no Stratos JSON form for kind %q", ErrInvalid, kind)
	}
	if err := pr.err(); err != nil {
		return nil, err
	}
	return p, nil
}

// CheckDir is `strata policy check DIR`: it loads dir as a reload would, plus the fixtures, and
// returns every problem. A nil error means the directory would load.
func CheckDir(ctx context.Context, dir string) error {
	set, err := loadDir(ctx, dir, nil)
	if err != nil {
		return err
	}
	if _, err := LoadApps(dir, set); err != nil {
		return err
	}
	_, err = LoadFixtures(dir, set)
	return err
}

// LoadCandidate loads dir with a candidate autoscaling policy, for a replay: policy is the id of
// an autoscaling policy in dir, or a YAML file whose policies join the directory's set, replacing
// those of the same kind and id. The file holds exactly one autoscaling policy. It returns the
// set and the id of the autoscaling policy.
func LoadCandidate(ctx context.Context, dir, policy string) (*Set, string, error) {
	set, err := LoadDir(dir)
	if err != nil {
		return nil, "", err
	}
	fi, err := os.Stat(policy)
	if err != nil || fi.IsDir() {
		if _, ok := set.Autoscaling(policy); !ok {
			return nil, "", fmt.Errorf("autoscaling policy %q: not in %s, and not a file", policy, dir)
		}
		return set, policy, nil
	}
	data, err := os.ReadFile(policy)
	if err != nil {
		return nil, "", fmt.Errorf("read policy: %w", err)
	}
	ps, err := DecodeYAML(policy, data)
	if err != nil {
		return nil, "", err
	}
	id := ""
	for _, p := range ps {
		if r := p.Ref(); r.Kind == KindAutoscaling {
			if id != "" {
				return nil, "", fmt.Errorf("%s: more than one autoscaling policy (%s, %s); replay takes one", policy, id, r.ID)
			}
			id = r.ID
		}
	}
	if id == "" {
		return nil, "", fmt.Errorf("%s: no autoscaling policy", policy)
	}
	keep := slices.DeleteFunc(set.All(), func(p Policy) bool {
		return slices.ContainsFunc(ps, func(q Policy) bool { return p.Ref() == q.Ref() })
	})
	set, err = Empty().With(ctx, append(keep, ps...)...)
	if err != nil {
		return nil, "", err
	}
	return set, id, nil
}
