package policies

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// LoadCandidate takes an autoscaling policy by id from the directory, or from a file whose
// policies replace the directory's of the same kind and id.
func TestLoadCandidate(t *testing.T) {
	ctx := context.Background()
	const dir = "../examples/demo/policies"
	file := func(body string) string {
		p := filepath.Join(t.TempDir(), "candidate.yaml")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const thresholds = "  memoryConsumption: {threshold: 95}\n  loadAverage: {threshold: 400}\n"
	candidate := "kind: AutoscalingPolicy\nid: demo-autoscaling\nloadThresholds:\n  requestsInFlight: {threshold: 7}\n" + thresholds
	for _, tc := range []struct {
		name, policy, wantID, wantErr string
		wantThreshold                 float64
	}{
		{name: "id in the directory", policy: "demo-autoscaling", wantID: "demo-autoscaling", wantThreshold: 3},
		{name: "file replacing the directory's", policy: file(candidate), wantID: "demo-autoscaling", wantThreshold: 7},
		{name: "unknown id", policy: "nope", wantErr: `autoscaling policy "nope": not in ../examples/demo/policies, and not a file`},
		{name: "file without an autoscaling policy", policy: file("kind: DeploymentPolicy\nid: other\nnetworkPartitions:\n  - id: demo-local\n    partitions: [{id: demo-local-p1, partitionMax: 2}]\n"),
			wantErr: "no autoscaling policy"},
		{name: "file with two", policy: file(candidate + "---\nkind: AutoscalingPolicy\nid: second\nloadThresholds:\n  requestsInFlight: {threshold: 1}\n" + thresholds),
			wantErr: "more than one autoscaling policy (demo-autoscaling, second)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, id, err := LoadCandidate(ctx, dir, tc.policy)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LoadCandidate = %v; want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || id != tc.wantID {
				t.Fatalf("LoadCandidate = %q, %v; want %q", id, err, tc.wantID)
			}
			p, ok := set.Autoscaling(id)
			if !ok || p.Thresholds.RequestsInFlight != tc.wantThreshold {
				t.Errorf("policy %s: %+v; want the requests-in-flight threshold %v", id, p, tc.wantThreshold)
			}
			if _, ok := set.Deployment("demo-deployment"); !ok {
				t.Errorf("the directory's deployment policy is gone")
			}
		})
	}
}
