package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// A server command whose program does not exist (an unknown image, for this driver) fails the
// start at once with the reason, and leaves nothing behind; it is never a member that exits with
// status 127 a moment later.
func TestStartUnknownProgram(t *testing.T) {
	dir := t.TempDir()
	d := newDriver(t, dir)
	terminateAll(t, d)
	for _, tc := range []struct {
		name, command, want string
	}{
		{name: "absolute path", command: `exec "/no/such/image" --serve`, want: `program /no/such/image not found`},
		{name: "name not in PATH", command: `strata-no-such-program-x1 --port 80`, want: `program strata-no-such-program-x1 not found in PATH`},
		{name: "not executable", command: filepath.Join(dir, "data.txt"), want: "is not an executable file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "data.txt"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			in := instance("m-"+strings.ReplaceAll(tc.name, " ", "-"), testenv.FreePort(t), "")
			in.IaaS = &model.IaasProvider{Type: Type, Property: []model.NameValue{{Name: PropertyCommand, Value: model.String(tc.command)}}}
			_, err := d.Start(context.Background(), in)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "cartridge php") {
				t.Fatalf("Start = %v, want an error with %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, instanceID(in.MemberID))); !os.IsNotExist(err) {
				t.Errorf("member directory left behind: %v", err)
			}
			if list, _ := d.List(context.Background()); len(list) != 0 {
				t.Errorf("List = %v", list)
			}
		})
	}
	// What the shell computes, a relative path (checked out later) and builtins are not checked.
	for _, ok := range []string{`exec "$STRATA_BIN" demo-server`, `./bin/run`, `cd app && exec ./run`, `exec sh -c 'exit 0'`, `"` + os.Args[0] + `" server`} {
		if err := checkProgram("server command", ok); err != nil {
			t.Errorf("checkProgram(%q) = %v", ok, err)
		}
	}
}

// A server that exits on its own is reported with the last line it wrote, which says why.
func TestExitReasonHasServerOutput(t *testing.T) {
	d := newDriver(t, t.TempDir())
	terminateAll(t, d)
	exits := watch(t, d)
	in := instance("crasher", testenv.FreePort(t), "")
	in.IaaS = &model.IaasProvider{Type: Type, Property: []model.NameValue{{Name: PropertyCommand,
		Value: model.String(`echo starting; echo "php: cannot open /etc/php.ini" >&2; exit 3`)}}}
	if _, err := d.Start(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-exits:
		if want := "server: exit status 3: php: cannot open /etc/php.ini"; e.Reason != want {
			t.Errorf("exit reason %q, want %q", e.Reason, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exit not reported")
	}
}

// An agent command that exits on its own is reported with the last line it wrote: `strata init`
// says there why a module's install failed, and that is the member's start failure.
func TestExitReasonHasAgentOutput(t *testing.T) {
	d := newDriver(t, t.TempDir())
	terminateAll(t, d)
	exits := watch(t, d)
	in := instance("installer", testenv.FreePort(t), "")
	in.IaaS = &model.IaasProvider{Type: Type, Property: []model.NameValue{{Name: PropertyAgent,
		Value: model.String(`echo installing; echo "strata init: install module php: install.sh: exit status 3: no disk" >&2; exit 1`)}}}
	if _, err := d.Start(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-exits:
		if want := "agent: exit status 1: strata init: install module php: install.sh: exit status 3: no disk"; e.Reason != want {
			t.Errorf("exit reason %q, want %q", e.Reason, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("exit not reported")
	}
}
