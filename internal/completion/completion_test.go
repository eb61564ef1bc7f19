package completion

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Flags reads what flag.PrintDefaults writes: bools take no value, the others do.
func TestFlags(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Bool("update", false, "replace")
	fs.String("output", "table", "format")
	fs.Duration("timeout", 0, "how long")
	var usage strings.Builder
	fs.SetOutput(&usage)
	fs.PrintDefaults()
	got := Flags("deploy", usage.String())
	want := Command{Name: "deploy", Flags: []string{"--output", "--timeout", "--update"},
		Valued: []string{"--output", "-output", "--timeout", "-timeout"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Flags (-want +got):\n%s", diff)
	}
	script := Bash([]Command{got}, []string{"cartridges"})
	if !strings.Contains(script, `deploy) flags="--output --timeout --update"; valued=" --output -output --timeout -timeout " ;;`) ||
		!strings.Contains(script, `compgen -W "cartridges"`) || strings.Contains(script, "@") {
		t.Errorf("Bash script:\n%s", script)
	}
}
