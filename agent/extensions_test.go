package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExtensionLargeValueInFile runs the CompleteTopologyEvent extension with a topology larger
// than Linux lets one environment string be (128 KiB): before, exec failed with "argument list
// too long" and the extension never ran, already for a cluster of about 150 members. The value
// now reaches the script in a file named by STRATOS_<KEY>_FILE, removed once the script ended,
// and small values stay in the environment.
func TestExtensionLargeValueInFile(t *testing.T) {
	dir := t.TempDir()
	ext := filepath.Join(dir, "extensions")
	writeFile(t, filepath.Join(ext, ExtCompleteTopology+".sh"), `#!/bin/bash
out="$(dirname "$0")/../out"
printf '%s' "${STRATOS_TOPOLOGY_JSON-unset}" > "$out/inline"
cp "$STRATOS_TOPOLOGY_JSON_FILE" "$out/topology"
printf '%s' "$STRATOS_TOPOLOGY_JSON_FILE" > "$out/path"
printf '%s' "$STRATOS_MEMBER_LIST_JSON" > "$out/list"
`, 0o755)
	if err := os.MkdirAll(filepath.Join(dir, "out"), 0o755); err != nil {
		t.Fatal(err)
	}
	a := &Agent{cfg: Config{ExtensionsDir: ext, ExtensionTimeout: 30 * time.Second}, log: testLogger(t)}
	topology := `{"serviceMap":{` + strings.Repeat(`"m":{"memberId":"x"},`, 20_000) + `}}` // ~400 KB
	list := `[{"memberId":"x"}]`
	if err := a.runExtension(context.Background(), ExtCompleteTopology, map[string]string{"TOPOLOGY_JSON": topology, "MEMBER_LIST_JSON": list}); err != nil {
		t.Fatalf("the extension did not run: %v", err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, "out", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read("topology"); got != topology {
		t.Errorf("STRATOS_TOPOLOGY_JSON_FILE held %d bytes, want the topology's %d", len(got), len(topology))
	}
	if got := read("inline"); got != "unset" {
		t.Errorf("STRATOS_TOPOLOGY_JSON = %.40q…, want it unset when the value is in a file", got)
	}
	if got := read("list"); got != list {
		t.Errorf("STRATOS_MEMBER_LIST_JSON = %q, want %q", got, list)
	}
	if _, err := os.Stat(read("path")); !os.IsNotExist(err) {
		t.Errorf("the value's file is still there after the extension ended: %v", err)
	}
}
