package policies

import (
	"context"
	"testing"
)

const examplesDir = "../examples/policies"

func TestExamplesLoad(t *testing.T) {
	set, err := LoadDir(examplesDir)
	if err != nil {
		for _, e := range Errors(err) {
			t.Error(e)
		}
		t.Fatal(err)
	}
	for _, p := range set.All() {
		t.Log(p.Ref(), p.At())
	}
	web, ok := set.Autoscaling("web")
	if !ok || len(web.Rules) != 3 || web.Behaviour.ScaleDown.StabilizationWindow.Minutes() != 5 {
		t.Errorf("web = %+v", web)
	}
	if got := set.Shadows("web"); len(got) != 1 || got[0].ID != "web-candidate" {
		t.Errorf("shadows of web = %v", got)
	}
	if set.Governance() == nil {
		t.Fatal("no governance query")
	}
	fx, err := LoadFixtures(examplesDir, set)
	if err != nil || len(fx) != 2 || len(fx[0].Steps) != 2 || fx[0].Cluster.ClusterID != "shop.php.php.domain" || fx[0].Cluster.MaxMembers != 10 {
		t.Errorf("fixtures = %+v, %v", fx, err)
	}
	if err := CheckDir(context.Background(), examplesDir); err != nil {
		t.Error(err)
	}
}
