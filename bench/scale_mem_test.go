package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
)

// logPeak writes a heap profile to path and logs the memory figures of the moment, taken when
// every member is Active: the peak of a scale run. The profile of -test.memprofile is taken at
// the end, after the undeploy, and shows only what the undeploy left.
func logPeak(t *testing.T, path, dataDir string, members int) {
	t.Helper()
	rss, anon, file := procStatus(t, "VmRSS:"), procStatus(t, "RssAnon:"), procStatus(t, "RssFile:")
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var files []string
	dbs, _ := filepath.Glob(filepath.Join(dataDir, "*.db"))
	for _, db := range dbs {
		if fi, err := os.Stat(db); err == nil {
			files = append(files, filepath.Base(db)+" "+mb(uint64(fi.Size())))
		}
	}
	t.Logf("at the peak (%d members Active): RSS %s (%d B per member; anonymous %s, file %s), HeapInuse %s (%d B per member) after GC, StackInuse %s, Sys %s, %d goroutines, bbolt files %s; heap profile in %s",
		members, mb(uint64(rss)), rss/int64(members), mb(uint64(anon)), mb(uint64(file)), mb(ms.HeapInuse), ms.HeapInuse/uint64(members), mb(ms.StackInuse), mb(ms.Sys),
		runtime.NumGoroutine(), strings.Join(files, ", "), path)
}

// profileFinely samples one allocation in 16 KiB instead of 512 KiB when a heap profile is
// asked for, so that a per-member cost of a few hundred bytes shows; it must run before the
// platform allocates.
func profileFinely() {
	if *scaleHeap != "" {
		runtime.MemProfileRate = 16 << 10
	}
}

func mb(b uint64) string { return fmt.Sprintf("%d MB", b>>20) }
