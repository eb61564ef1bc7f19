package policies

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/rules"
)

const validDep = `kind: DeploymentPolicy
id: d1
networkPartitions:
  - id: np-1
    partitions: [{id: p1, partitionMax: 3}]
`

const validGov = "package strata.governance\n\ndeny contains \"too many\" if input.delta > 3\n"

func newStoreDir(t *testing.T) (string, *Store, *[]Changes) {
	t.Helper()
	dir := t.TempDir()
	write(t, dir, "np.yaml", validNP)
	write(t, dir, "as.yaml", validAS+"---\n"+strings.Replace(validAS, "as-1", "as-2", 1))
	write(t, dir, "dep.yaml", validDep)
	write(t, dir, "gov.rego", validGov)
	var seen []Changes
	s, err := NewStore(context.Background(), StoreOptions{Dir: dir, OnChange: func(_, _ *Set, c Changes) { seen = append(seen, c) }})
	if err != nil {
		t.Fatal(err)
	}
	return dir, s, &seen
}

func TestReloadAllOrNothing(t *testing.T) {
	ctx := context.Background()
	dir, s, _ := newStoreDir(t)
	before := s.Set()
	// A bad file beside good changes: nothing of it is taken.
	write(t, dir, "as.yaml", strings.Replace(validAS, "threshold: 20", "threshold: 25", 1)) // a good change
	write(t, dir, "bad.yaml", "kind: DeploymentPolicy\nid: d2\nnetworkPartitions: [{id: np-9, partitions: [{id: p1, partitionMax: 1}]}]\n")
	_, err := s.Reload(ctx)
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:3:26: ") {
		t.Fatalf("reload err = %v, want bad.yaml:3:26", err)
	}
	if s.Set() != before {
		t.Fatal("a failed reload changed the set")
	}
	for _, bad := range []string{
		"kind: AutoscalingPolicy\nid: x\nloadThresholds: {requestsInFlight: {threshold: 1}, memoryConsumption: {threshold: 1}, loadAverage: {threshold: 1}}\nrules: [{scaleUp: 'cartridge > 1'}]\n",
		"kind: NetworkPartition\nid: n\nprovider: mock\npartitions: [{id: p, unknown: 1}]\n",
	} {
		write(t, dir, "bad.yaml", bad)
		if _, err := s.Reload(ctx); err == nil {
			t.Errorf("reload accepted %q", bad)
		}
		if s.Set() != before {
			t.Fatal("a failed reload changed the set")
		}
	}
	write(t, dir, "gov.rego", "package strata.governance\n\ndeny contains msg if {\n")
	os.Remove(filepath.Join(dir, "bad.yaml"))
	if _, err := s.Reload(ctx); err == nil || !strings.Contains(err.Error(), "gov.rego:") {
		t.Fatalf("rego syntax error: %v", err)
	}
	if s.Set() != before {
		t.Fatal("a failed reload changed the set")
	}
}

func TestReloadKeepsUnchanged(t *testing.T) {
	ctx := context.Background()
	dir, s, seen := newStoreDir(t)
	before := s.Set()
	as1, _ := before.Autoscaling("as-1")
	as2, _ := before.Autoscaling("as-2")
	np, _ := before.NetworkPartition("np-1")
	gov := before.Governance()

	// as-1 moves down two lines (a comment) but is unchanged; as-2 changes; d1 goes; d2 comes.
	write(t, dir, "as.yaml", "# moved\n\n"+validAS+"---\n"+strings.Replace(strings.Replace(validAS, "as-1", "as-2", 1), "threshold: 20", "threshold: 30", 1))
	os.Remove(filepath.Join(dir, "dep.yaml"))
	write(t, dir, "dep2.yaml", strings.Replace(validDep, "d1", "d2", 1))
	c, err := s.Reload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := s.Set()
	if got, _ := after.Autoscaling("as-1"); got != as1 {
		t.Error("unchanged as-1 lost its identity")
	}
	if got, _ := after.Autoscaling("as-2"); got == as2 || got.Thresholds.RequestsInFlight != 30 {
		t.Error("changed as-2 kept its identity")
	}
	if got, _ := after.NetworkPartition("np-1"); got != np {
		t.Error("unchanged network partition lost its identity")
	}
	if after.Governance() != gov {
		t.Error("unchanged governance was recompiled")
	}
	want := Changes{
		Added:     []Ref{{KindDeployment, "d2"}},
		Changed:   []Ref{{KindAutoscaling, "as-2"}},
		Removed:   []Ref{{KindDeployment, "d1"}},
		Unchanged: 3,
	}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	if len(*seen) != 2 || !cmp.Equal((*seen)[1], c) {
		t.Errorf("OnChange saw %v", *seen)
	}
	// A reload of the same files changes nothing.
	if c, err := s.Reload(ctx); err != nil || !c.Empty() || s.Set().All()[0] != after.All()[0] {
		t.Errorf("idle reload: %+v, %v", c, err)
	}
	// A changed governance module is recompiled.
	write(t, dir, "gov.rego", strings.Replace(validGov, "> 3", "> 4", 1))
	if _, err := s.Reload(ctx); err != nil || s.Set().Governance() == gov {
		t.Errorf("governance not recompiled: %v", err)
	}
}

func TestStoreUpdate(t *testing.T) {
	ctx := context.Background()
	_, s, _ := newStoreDir(t)
	before := s.Set()
	p, err := DecodeStratosJSON(KindDeployment, []byte(`{"id": "d9", "networkPartitions": [{"id": "np-1", "partitionAlgo": "one-after-another", "partitions": [{"id": "nope", "partitionMax": "2"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Update(func(set *Set) (*Set, error) { return set.With(ctx, p) })
	if !errors.Is(err, ErrNotFound) || s.Set() != before {
		t.Fatalf("update with a missing partition: %v", err)
	}
	_, err = s.Update(func(set *Set) (*Set, error) { return set.Without(ctx, Ref{KindNetworkPartition, "np-1"}) })
	if !errors.Is(err, ErrInUse) || s.Set() != before {
		t.Fatalf("removing a network partition in use: %v", err)
	}
	c, err := s.Update(func(set *Set) (*Set, error) {
		return set.Without(ctx, Ref{KindDeployment, "d1"}, Ref{KindNetworkPartition, "np-1"})
	})
	if err != nil || len(c.Removed) != 2 {
		t.Fatalf("removing together: %+v, %v", c, err)
	}
	if _, err := s.Set().Without(ctx, Ref{KindDeployment, "d1"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing a missing policy: %v", err)
	}
}

// Watch reloads when the files change, and tries the same files only once.
func TestStoreWatchPolls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir, s, _ := newStoreDir(t)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		calls := 0
		go func() {
			done <- s.Watch(ctx, func(ctx context.Context) (Changes, error) {
				calls++
				return s.Reload(ctx)
			})
		}()
		before := s.Set()

		time.Sleep(6 * time.Second)
		synctest.Wait()
		if calls != 0 {
			t.Fatalf("reloaded %d times with no file changed", calls)
		}
		write(t, dir, "broken.yaml", "kind: Nope\n")
		time.Sleep(12 * time.Second)
		synctest.Wait()
		if s.Set() != before {
			t.Fatal("a broken file was taken")
		}
		if calls != 1 {
			t.Fatalf("reloaded %d times for one change, want once", calls)
		}
		os.Remove(filepath.Join(dir, "broken.yaml"))
		write(t, dir, "dep2.yaml", strings.Replace(validDep, "d1", "d2", 1))
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if _, ok := s.Set().Deployment("d2"); !ok {
			t.Fatal("the new file was not loaded")
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestGovernAndRules(t *testing.T) {
	ctx := context.Background()
	_, s, _ := newStoreDir(t)
	set := s.Set()
	r, err := set.Govern(ctx, rules.Proposal{Action: "scale-up", Delta: 5})
	if err != nil || !r.Denied() || r.Messages[0] != "too many" {
		t.Errorf("govern = %+v, %v", r, err)
	}
	if r, err := Empty().Govern(ctx, rules.Proposal{Delta: 100}); err != nil || r.Denied() {
		t.Errorf("no governance: %+v, %v", r, err)
	}
}

// A Check sees what a reload would change and can refuse it as a whole: the running set stays,
// and LastReload and Reloads say so; an accepted reload swaps the set in.
func TestReloadCheck(t *testing.T) {
	ctx := context.Background()
	dir, s, _ := newStoreDir(t)
	before := s.Set()
	if r, ok := s.LastReload(); !ok || !r.Applied || r.Changes.Unchanged != 0 || len(r.Changes.Added) != 5 {
		t.Errorf("LastReload after the load at start = %+v, %v; want applied with 5 added", r, ok)
	}
	if s.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", s.Dir(), dir)
	}
	os.Remove(filepath.Join(dir, "dep.yaml"))
	var saw Changes
	refuse := func(_ context.Context, old, next *Set, c Changes) error {
		saw = c
		if old != before {
			t.Error("check's old set is not the running set")
		}
		if _, ok := next.Deployment("d1"); ok {
			t.Error("check's next set still has d1")
		}
		return errors.New("application app-1 uses deployment policy d1")
	}
	_, err := s.ReloadCheck(ctx, refuse)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "application app-1 uses deployment policy d1") {
		t.Fatalf("refused reload: err = %v, want ErrRefused with the check's reason", err)
	}
	if s.Set() != before {
		t.Fatal("a refused reload changed the set")
	}
	if want := []Ref{{KindDeployment, "d1"}}; !cmp.Equal(saw.Removed, want) {
		t.Errorf("check saw removed %v, want %v", saw.Removed, want)
	}
	r, _ := s.LastReload()
	if r.Applied || !strings.Contains(r.Error, "app-1") || !cmp.Equal(r.Changes.Removed, saw.Removed) {
		t.Errorf("LastReload after the refusal = %+v", r)
	}
	write(t, dir, "bad.yaml", "kind: Nonsense\n")
	if _, err := s.ReloadCheck(ctx, refuse); err == nil || errors.Is(err, ErrRefused) {
		t.Errorf("a directory with problems: err = %v, want a load error, not a refusal", err)
	}
	os.Remove(filepath.Join(dir, "bad.yaml"))
	c, err := s.ReloadCheck(ctx, func(context.Context, *Set, *Set, Changes) error { return nil })
	if err != nil || len(c.Removed) != 1 {
		t.Fatalf("accepted reload = %+v, %v", c, err)
	}
	if _, ok := s.Set().Deployment("d1"); ok {
		t.Error("an accepted reload kept d1")
	}
	if got, want := s.Reloads(), (ReloadCounts{Applied: 2, Failed: 1, Refused: 1}); got != want {
		t.Errorf("Reloads() = %+v, want %+v", got, want)
	}
}
