package policies

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// samplesDir holds the Apache Stratos samples the tests decode, unchanged (see its README.md).
const samplesDir = "testdata/stratos-samples"

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(samplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var ignoreInternal = []cmp.Option{
	cmpopts.IgnoreUnexported(Autoscaling{}, Deployment{}, Application{}, NetworkPartition{}),
	cmpopts.IgnoreFields(Autoscaling{}, "Source"), cmpopts.IgnoreFields(Deployment{}, "Source"),
	cmpopts.IgnoreFields(Application{}, "Source"), cmpopts.IgnoreFields(NetworkPartition{}, "Source"),
}

func TestStratosSamples(t *testing.T) {
	tests := []struct {
		file string
		kind Kind
		want Policy
	}{
		{file: "autoscaling-policies__autoscaling-policy-1.json", kind: KindAutoscaling, want: &Autoscaling{
			ID: "autoscaling-policy-1", Mode: ModeEnforce,
			Thresholds: Thresholds{RequestsInFlight: 20, MemoryConsumption: 70, LoadAverage: 70},
			Behaviour:  Behaviour{MissingMetrics: MissingMetrics{After: DefaultMissingAfter, Action: MissingHold}},
		}},
		{file: "network-partitions__mock__network-partition-1.json", kind: KindNetworkPartition, want: &NetworkPartition{
			ID: "network-partition-1", Provider: "mock",
			Partitions: []Partition{{ID: "partition-1", Properties: []Property{{Name: "region", Value: "default"}}}},
		}},
		{file: "network-partitions__mock__network-partition-2.json", kind: KindNetworkPartition, want: &NetworkPartition{
			ID: "network-partition-2", Provider: "mock",
			Partitions: []Partition{
				{ID: "network-partition-2-partition-1", Properties: []Property{{Name: "region", Value: "default"}}},
				{ID: "network-partition-2-partition-2", Properties: []Property{{Name: "region", Value: "default"}}},
			},
		}},
		{file: "deployment-policies__deployment-policy-1.json", kind: KindDeployment, want: &Deployment{
			ID: "deployment-policy-1",
			NetworkPartitions: []DeploymentNetworkPartition{{ID: "network-partition-1", Algorithm: OneAfterAnother,
				Partitions: []DeploymentPartition{{ID: "partition-1", Max: 20}}}},
		}},
		{file: "deployment-policies__deployment-policy-2.json", kind: KindDeployment, want: &Deployment{
			ID: "deployment-policy-2",
			NetworkPartitions: []DeploymentNetworkPartition{
				{ID: "network-partition-1", Algorithm: OneAfterAnother, Partitions: []DeploymentPartition{{ID: "partition-1", Max: 5}}},
				{ID: "network-partition-2", Algorithm: RoundRobin, Partitions: []DeploymentPartition{
					{ID: "network-partition-2-partition-1", Max: 5}, {ID: "network-partition-2-partition-2", Max: 5}}},
			},
		}},
		{file: "application-policies__application-policy-1.json", kind: KindApplication, want: &Application{
			ID: "application-policy-1", Algorithm: OneAfterAnotherNP, NetworkPartitions: []string{"network-partition-1"},
			Properties: []Property{{Name: "key-1", Value: "value-1"}, {Name: "key-2", Value: "value-2"}},
		}},
	}
	set := Empty()
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p, err := DecodeStratosJSON(tt.kind, sample(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, p, ignoreInternal...); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// Posted in Stratos' order, each joins the set with its references resolved.
			next, err := set.With(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			set = next
		})
	}
	if got := len(set.All()); got != len(tests) {
		t.Errorf("set has %d policies, want %d", got, len(tests))
	}
	// The deployment policy still in use... is not: Stratos refuses to remove a network partition
	// that a deployment policy names.
	if _, err := set.Without(ctx, Ref{KindNetworkPartition, "network-partition-2"}); err == nil ||
		!strings.Contains(err.Error(), "DeploymentPolicy/deployment-policy-2") {
		t.Errorf("removing a network partition in use: %v", err)
	}
}

func TestStratosSamplesDir(t *testing.T) {
	// The samples copied into a policy directory, as the flattened names are, load as they are.
	dir := t.TempDir()
	n := 0
	for _, prefix := range []string{"autoscaling-policies__", "deployment-policies__", "application-policies__", "network-partitions__"} {
		matches, _ := filepath.Glob(filepath.Join(samplesDir, prefix+"*.json"))
		for _, m := range matches {
			b, err := os.ReadFile(m)
			if err != nil {
				t.Fatal(err)
			}
			write(t, dir, filepath.Base(m), string(b))
			n++
		}
	}
	if n != 6 {
		t.Fatalf("copied %d samples from %s, want 6", n, samplesDir)
	}
	set, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.All()) != n {
		t.Errorf("loaded %d policies from %d files", len(set.All()), n)
	}
}

func TestStratosStringScalars(t *testing.T) {
	// The REST API receives numbers and booleans as strings (docs/stratos-wire.md §5).
	p, err := DecodeStratosJSON(KindAutoscaling, []byte(`{"id": "a", "isPublic": "true",
		"loadThresholds": {"requestsInFlight": {"threshold": "20"}, "memoryConsumption": {"threshold": "70.5"},
		"loadAverage": {"threshold": 70}}}`))
	if err != nil {
		t.Fatal(err)
	}
	a := p.(*Autoscaling)
	if !a.IsPublic || a.Thresholds != (Thresholds{20, 70.5, 70}) {
		t.Errorf("got %+v", a)
	}
	p, err = DecodeStratosJSON(KindDeployment, []byte(`{"id": "d", "networkPartitions": [{"id": "np",
		"partitionAlgo": "round-robin", "partitions": [{"id": "p", "partitionMax": "7"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.(*Deployment).NetworkPartitions[0].Partitions[0].Max; got != 7 {
		t.Errorf("partitionMax = %d", got)
	}
}

func TestStratosJSONErrors(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		json string
		want []string
	}{
		{name: "unknown field", kind: KindAutoscaling, json: "{\n  \"id\": \"a\",\n  \"loadThreshold\": {}\n}",
			want: []string{`request:3:3: unknown field "loadThreshold"`, `request:1:1: autoscaling policy: missing loadThresholds`}},
		{name: "syntax", kind: KindDeployment, json: "{\n  \"id\": \"d\",,\n}", want: []string{"request:2:13: json: invalid character"}},
		{name: "truncated", kind: KindDeployment, json: "{\"id\": \"d\"", want: []string{"request:1:11: json: unexpected end"}},
		{name: "not a number", kind: KindDeployment, json: `{"id": "d", "networkPartitions": [{"id": "np", "partitions": [{"id": "p", "partitionMax": "x"}]}]}`,
			want: []string{`request:1:91: expected an integer, got "x"`}},
		{name: "bad algorithm", kind: KindApplication, json: `{"id": "a", "algorithm": "random", "networkPartitions": ["np"]}`,
			want: []string{`request:1:26: algorithm "random"`}},
		{name: "property without name", kind: KindNetworkPartition, json: `{"id": "n", "provider": "mock", "partitions": [{"id": "p", "property": [{"value": "x"}]}]}`,
			want: []string{`request:1:73: property without a name`}},
		{name: "duplicate key", kind: KindNetworkPartition, json: `{"id": "n", "id": "m", "provider": "mock", "partitions": [{"id": "p"}]}`,
			want: []string{`request:1:13: duplicate field "id"`}},
		{name: "array at top", kind: KindNetworkPartition, json: `[]`, want: []string{`request:1:1: expected a JSON object`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeStratosJSON(tt.kind, []byte(tt.json))
			var got []string
			for _, e := range Errors(err) {
				got = append(got, e.Error())
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %q, want %d problems", got, len(tt.want))
			}
			for i, w := range tt.want {
				if i < len(got) && !strings.HasPrefix(got[i], w) {
					t.Errorf("problem %d = %q, want prefix %q", i, got[i], w)
				}
			}
		})
	}
}

func TestEncodeStratosJSONRoundTrip(t *testing.T) {
	set, err := LoadDir(examplesDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range set.All() {
		if p.Ref().Kind == KindGovernance {
			continue
		}
		b, err := EncodeStratosJSON(p)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeStratosJSON(p.Ref().Kind, b)
		if err != nil {
			t.Fatalf("%s: %v\n%s", p.Ref(), err, b)
		}
		if back.fingerprint() != p.fingerprint() {
			t.Errorf("%s does not round-trip:\n%s", p.Ref(), b)
		}
	}
}
