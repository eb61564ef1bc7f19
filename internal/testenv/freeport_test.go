package testenv

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// A port FreePort handed out stays locked against every other process (another test binary
// asking for a port), for as long as this one runs.
func TestFreePortIsHeldAgainstOtherProcesses(t *testing.T) {
	flock := Program(t, "flock")
	p := FreePort(t)
	err := exec.Command(flock, "-n", filepath.Join(os.TempDir(), "strata-test-ports", strconv.Itoa(p)), "true").Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("another process took the lock of port %d (err %v), want it refused", p, err)
	}
}
