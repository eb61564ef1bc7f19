package bench

import (
	"flag"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
)

var scaleUndeployProfile = flag.String("scale.undeployprofile", "", "profile TestScale's undeploy phase alone: a CPU profile in this file, the mutex and block profiles in this file + \".mutex\" and \".block\", and the allocations in this file + \".allocs\" (with the start in \".allocs.base\", for go tool pprof -base)")

// profileUndeploy starts the profiles of -scale.undeployprofile, if asked for, and returns the
// function that stops them and writes them once the undeploy is over.
func profileUndeploy(t *testing.T) (stop func()) {
	t.Helper()
	path := *scaleUndeployProfile
	if path == "" {
		return func() {}
	}
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		t.Fatal(err)
	}
	runtime.SetMutexProfileFraction(5)
	runtime.SetBlockProfileRate(int(10e3)) // a sample per 10 µs blocked
	writeAllocs(t, path+".allocs.base")
	// The mutex and block profiles count from here on: write their start too.
	writeProfile(t, "mutex", path+".mutex.base")
	writeProfile(t, "block", path+".block.base")
	return func() {
		pprof.StopCPUProfile()
		if err := out.Close(); err != nil {
			t.Error(err)
		}
		writeAllocs(t, path+".allocs")
		writeProfile(t, "mutex", path+".mutex")
		writeProfile(t, "block", path+".block")
		runtime.SetMutexProfileFraction(0)
		runtime.SetBlockProfileRate(0)
	}
}

// writeProfile writes the named runtime profile to path.
func writeProfile(t *testing.T, name, path string) {
	out, err := os.Create(path)
	if err != nil {
		t.Error(err)
		return
	}
	defer out.Close()
	if err := pprof.Lookup(name).WriteTo(out, 0); err != nil {
		t.Error(err)
	}
}
