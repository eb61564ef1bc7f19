package modules

import (
	"fmt"
	"strings"
	"testing"

	"github.com/strata-paas/strata/internal/model"
)

// BenchmarkDirectoryVersion is GET /{type}/version of a directory module, which every member's
// bootstrap asks at its start: 32 files of 32 KiB.
func BenchmarkDirectoryVersion(b *testing.B) {
	dir := b.TempDir()
	files := map[string]string{"install.sh": "echo hi\n"}
	for i := range 32 {
		files[fmt.Sprintf("lib/f%02d.txt", i)] = strings.Repeat(fmt.Sprintf("line %d of a module file\n", i), 32<<10/24)
	}
	writeFiles(b, dir, files)
	s, err := New(Options{Cartridge: fakeCartridges(map[string][]model.NameValue{"php": {prop(PropertyDir, dir)}}),
		Member: func(string, string) (string, bool) { return "", false }})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Module(b.Context(), "php", true); err != nil {
			b.Fatal(err)
		}
	}
}
