package policies

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAppDefinitionProblems: an application definition's problems come with file:line:col, all
// at once: startup-order and scaling-dependent aliases that name no child of their component
// (Stratos' text), a duplicate alias, min above max, an unknown termination behaviour, an unknown
// field, and policies that do not exist in the directory; a fixture naming an alias the
// application lacks is refused.
func TestAppDefinitionProblems(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"network-partitions.yaml", "deployment.yaml", "autoscaling.yaml", "application.yaml"} {
		b, err := os.ReadFile(filepath.Join(examplesDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	app := `kind: Application
id: shop
deploymentPolicy: web-deployment
cartridges:
  - {alias: lb, type: stratos-lb, min: 2, max: 1, autoscalingPolicy: nope}
groups:
  - alias: backend
    cartridges:
      - {alias: lb, type: php, autoscalingPolicy: web, colour: blue}
    dependencies:
      startupOrders: [[cartridge.lb, cartridge.db]]
      scalingDependents: [[group.backend]]
      terminationBehaviour: terminate-some
dependencies:
  startupOrders: [[cartridge.lb, group.backend, cartridge.php]]
`
	if err := os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte(app), 0o600); err != nil {
		t.Fatal(err)
	}
	// Alone, as a reload reads it: everything but the policy references.
	_, err := LoadDir(dir)
	want := []string{
		`shop.yaml:5:48: cartridge lb: want 0 <= min <= max`,
		`shop.yaml:9:56: unknown field "colour"`,
		`shop.yaml:9:17: application shop: alias "lb" is used twice`,
		`shop.yaml:11:38: The startup-order defined in the [application] shop is not correct. [startup-order-alias] cartridge.db is not there in the application.`,
		`shop.yaml:12:28: The scaling-dependent defined in the [application] shop is not correct. [scaling-dependent-alias] group.backend is not there in the application.`,
		`shop.yaml:13:29: terminationBehaviour "terminate-some"`,
		`shop.yaml:15:49: The startup-order defined in the [application] shop is not correct. [startup-order-alias] cartridge.php is not there in the application.`,
	}
	checkProblems(t, err, dir, want)

	// With the policies, as strata policy check reads it.
	if err := os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte("kind: Application\nid: shop\ncartridges: [{alias: php, type: php, min: 1, max: 3, autoscalingPolicy: nope, deploymentPolicy: web-deployment}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(dir); err != nil {
		t.Errorf("LoadDir: %v, want the application checked alone", err)
	}
	checkProblems(t, CheckDir(context.Background(), dir), dir, []string{`shop.yaml:3:73: application shop: cartridge php: autoscaling policy "nope" does not exist`})

	// A fixture on an alias the application lacks.
	if err := os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte("kind: Application\nid: shop\ndeploymentPolicy: web-deployment\ncartridges: [{alias: php, type: php, min: 1, max: 3, autoscalingPolicy: web}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fixture := "name: f\napplication: shop\nalias: db\nsteps: [{at: 0s, expect: {action: none}}]\n"
	if err := os.WriteFile(filepath.Join(dir, "shop_test.yaml"), []byte(fixture), 0o600); err != nil {
		t.Fatal(err)
	}
	checkProblems(t, CheckDir(context.Background(), dir), dir, []string{`shop_test.yaml:3:8: fixture: application shop has no cartridge alias "db"`})
}

// checkProblems wants every message of want (file names relative to dir) as the start of one of
// err's problems, and no other problem.
func checkProblems(t *testing.T, err error, dir string, want []string) {
	t.Helper()
	var got []string
	for _, e := range Errors(err) {
		got = append(got, strings.TrimPrefix(e.Error(), dir+string(filepath.Separator)))
	}
	if len(got) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
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
