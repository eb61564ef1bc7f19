package policies

import (
	"slices"
	"strings"
	"testing"

	"github.com/strata-paas/strata/internal/model"
)

func TestFixtures(t *testing.T) {
	set, err := LoadDir(examplesDir)
	if err != nil {
		t.Fatal(err)
	}
	fx, err := LoadFixtures(examplesDir, set)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(fx, func(f Fixture) bool { return f.Name == "a burst of requests scales web up" })
	if i < 0 {
		t.Fatalf("no web fixture in %+v", fx)
	}
	f := fx[i]
	if f.AutoscalingPolicy != "web" || f.Cluster.MaxMembers != 10 || len(f.Members) != 2 {
		t.Errorf("fixture = %+v", f)
	}
	s := f.Steps[0]
	if len(s.Summaries) != 3 || s.Summaries[0].Kind != model.AverageRequestsInFlight || s.Summaries[0].Value != 100 ||
		s.Summaries[0].ClusterID != "php.cluster" || s.Expect.Action != "scale-up" || *s.Expect.Delta != 3 {
		t.Errorf("step 0 = %+v", s)
	}
	if f.Steps[1].At.Seconds() != 90 || f.Steps[1].Expect.Delta != nil {
		t.Errorf("step 1 = %+v", f.Steps[1])
	}

	bad := `name: x
autoscalingPolicy: nope
deploymentPolicy: web-deployment
cluster: {clusterId: c, networkPartitionId: network-partition-1, minMembers: 1, maxMembers: 2}
members: [{partition: partition-9, active: 1}]
steps:
  - at: 10s
    summaries: [{kind: AverageBogus, value: 1}, {kind: MemberAverageLoadAverage, value: 1}]
    expect: {delta: 1}
  - at: 5s
`
	_, err = DecodeFixtures("x_test.yaml", []byte(bad), set)
	var got []string
	for _, e := range Errors(err) {
		got = append(got, e.Error())
	}
	want := []string{
		`x_test.yaml:2:20: fixture x: autoscaling policy "nope" does not exist`,
		`x_test.yaml:5:23: fixture x: partition "partition-9" is not in deployment policy web-deployment`,
		`x_test.yaml:8:24: unknown summary kind "AverageBogus"`,
		`x_test.yaml:8:49: summary MemberAverageLoadAverage needs member`,
		`x_test.yaml:9:13: expect: missing action`,
		`x_test.yaml:10:9: fixture x: steps must be in increasing time`,
	}
	if len(got) != len(want) {
		t.Errorf("got:\n%s", strings.Join(got, "\n"))
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || strings.HasPrefix(g, w)
		}
		if !found {
			t.Errorf("missing %q in:\n%s", w, strings.Join(got, "\n"))
		}
	}
}
