package mock

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// wantPatterns are the patterns of testdata/mock-iaas.xml and testdata/mock-health.yaml.
var wantPatterns = map[string][]Pattern{
	"php": {
		{Factor: MemoryConsumption, Values: []float64{60, 60, 10}, Duration: time.Minute, Mode: Continue},
		{Factor: LoadAverage, Values: []float64{60, 60, 10}, Duration: time.Minute, Mode: Continue},
	},
	"tomcat": {{Factor: RequestsInFlight, Values: []float64{5, 25}, Duration: 30 * time.Second, Mode: Loop}},
}

func TestLoadPatterns(t *testing.T) {
	for _, file := range []string{"testdata/mock-iaas.xml", "testdata/mock-health.yaml"} {
		t.Run(file, func(t *testing.T) {
			got, err := LoadPatterns(file)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(wantPatterns, got); d != "" {
				t.Errorf("patterns (-want +got):\n%s", d)
			}
		})
	}
	if _, err := LoadPatterns("testdata/missing.xml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: %v, want fs.ErrNotExist", err)
	}
}

// TestParsePatternsErrors: every problem is reported, with the line and column of its pattern.
func TestParsePatternsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{
			name: "xml with every mistake",
			in: `<mock-iaas>
  <health-statistics>
    <cartridge type="php">
      <pattern factor="cpu" mode="forever">
        <sampleValues>10,x</sampleValues>
        <sampleDuration>soon</sampleDuration>
      </pattern>
      <pattern factor="load-average" mode="loop"><sampleValues></sampleValues><sampleDuration>0</sampleDuration></pattern>
    </cartridge>
  </health-statistics>
</mock-iaas>`,
			want: []string{`x:4:7: `, `unknown factor "cpu"`, `unknown mode "forever"`, `sampleValues: "x" is not a number`,
				`sampleDuration "soon"`, `x:8:7: `, "no sample values", "sample duration must be positive"},
		},
		{
			name: "xml repeated factor",
			in: `<mock-iaas><health-statistics><cartridge type="php">
<pattern factor="load-average" mode="loop"><sampleValues>1</sampleValues><sampleDuration>1</sampleDuration></pattern>
<pattern factor="load-average" mode="loop"><sampleValues>1</sampleValues><sampleDuration>1</sampleDuration></pattern>
</cartridge></health-statistics></mock-iaas>`,
			want: []string{"x:3:1: cartridge php has a second load-average pattern"},
		},
		{name: "xml wrong root", in: `<patterns/>`, want: []string{"want <mock-iaas>"}},
		{name: "xml broken", in: `<mock-iaas><health-statistics>`, want: []string{"x: XML syntax error"}},
		{name: "xml no pattern", in: `<mock-iaas enabled="true"/>`, want: []string{"x: no pattern"}},
		{name: "xml pattern outside a cartridge", in: `<mock-iaas><pattern factor="load-average" mode="loop"><sampleValues>1</sampleValues><sampleDuration>1</sampleDuration></pattern></mock-iaas>`,
			want: []string{"outside a cartridge type"}},
		{
			name: "yaml with every mistake",
			in: `cartridges:
  php:
    - {factor: cpu, mode: loop, sampleValues: [1], sampleDuration: 10}
    - {factor: load-average, mode: loop, sampleValues: [1], sampleDuration: 10, colour: red}
  tomcat: {factor: load-average}
`,
			want: []string{`x:3:7: unknown factor "cpu"`, "x:4:7:", "field colour not found", "x:5:11: cartridge tomcat: want a list"},
		},
		{name: "yaml unknown top-level field", in: "patterns: {}\n", want: []string{"field patterns not found"}},
		{name: "yaml empty", in: "", want: []string{"x: no pattern"}},
		{name: "yaml cartridges not a map", in: "cartridges: [php]\n", want: []string{"x:1:13: cartridges must map"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := ParsePatterns("x", []byte(tc.in))
			if err == nil {
				t.Fatalf("no error; patterns %v", ps)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// FuzzParsePatterns: pattern files come from users; no input panics, and what parses is valid.
func FuzzParsePatterns(f *testing.F) {
	for _, s := range []string{
		`<mock-iaas><health-statistics><cartridge type="php"><pattern factor="load-average" mode="loop"><sampleValues>1,2</sampleValues><sampleDuration>1</sampleDuration></pattern></cartridge></health-statistics></mock-iaas>`,
		"cartridges:\n  php:\n    - {factor: load-average, mode: stop, sampleValues: [1], sampleDuration: 2s}\n",
		"cartridges: 3", "<mock-iaas><cartridge>", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := ParsePatterns("fuzz", b)
		if err != nil {
			return
		}
		for typ, list := range ps {
			for _, p := range list {
				if err := p.check(); err != nil {
					t.Fatalf("%s: an invalid pattern parsed: %v", typ, err)
				}
			}
		}
	})
}

// TestDefaultPatterns: a cartridge type no pattern names publishes DefaultPatterns, unless a "*"
// entry says otherwise (an empty one: nothing).
func TestDefaultPatterns(t *testing.T) {
	for _, tc := range []struct {
		name     string
		patterns map[string][]Pattern
		want     []Pattern
	}{
		{name: "no patterns", want: DefaultPatterns()},
		{name: "another type named", patterns: map[string][]Pattern{"tomcat": wantPatterns["tomcat"]}, want: DefaultPatterns()},
		{name: "the type named", patterns: wantPatterns, want: wantPatterns["php"]},
		{name: "a star entry", patterns: map[string][]Pattern{DefaultType: wantPatterns["tomcat"]}, want: wantPatterns["tomcat"]},
		{name: "an empty star entry", patterns: map[string][]Pattern{DefaultType: {}}, want: []Pattern{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(Options{Bus: newFakeBus(), Patterns: tc.patterns})
			if err != nil {
				t.Fatal(err)
			}
			d.mu.Lock()
			got := d.typeLocked("php", time.Now()).patterns
			d.mu.Unlock()
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("php's patterns (-want +got):\n%s", diff)
			}
		})
	}
}
