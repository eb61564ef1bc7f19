package demo

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseWaves(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, waves, workers string
		want                 []Wave
		err                  string // a part of the error; "" for none
	}{
		{name: "default", waves: "30s,60s,60s", workers: "2,12", want: []Wave{
			{Name: "low", D: 30 * time.Second, Workers: 2},
			{Name: "high", D: time.Minute, Workers: 12},
			{Name: "low", D: time.Minute, Workers: 2},
		}},
		{name: "spaces", waves: " 1s, 2m ,500ms", workers: " 0 , 1000", want: []Wave{
			{Name: "low", D: time.Second, Workers: 0},
			{Name: "high", D: 2 * time.Minute, Workers: 1000},
			{Name: "low", D: 500 * time.Millisecond, Workers: 0},
		}},
		{name: "two waves", waves: "1s,2s", workers: "2,12", err: `--demo-waves "1s,2s": want three durations`},
		{name: "four waves", waves: "1s,2s,3s,4s", workers: "2,12", err: "want three durations"},
		{name: "not a duration", waves: "1s,x,3s", workers: "2,12", err: `--demo-waves "1s,x,3s": want three positive durations`},
		{name: "zero duration", waves: "1s,0s,3s", workers: "2,12", err: "want three positive durations"},
		{name: "negative duration", waves: "-1s,2s,3s", workers: "2,12", err: "want three positive durations"},
		{name: "one count", waves: "1s,2s,3s", workers: "2", err: `--demo-workers "2": want two counts (low, high)`},
		{name: "not a count", waves: "1s,2s,3s", workers: "2,many", err: `--demo-workers "2,many": want counts from 0 to 1000`},
		{name: "negative count", waves: "1s,2s,3s", workers: "-1,2", err: "want counts from 0 to 1000"},
		{name: "too many", waves: "1s,2s,3s", workers: "2,1001", err: "want counts from 0 to 1000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseWaves(tc.waves, tc.workers)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseWaves(%q, %q) = %v, %v; want an error with %q", tc.waves, tc.workers, got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseWaves(%q, %q) = %v, %v; want %v", tc.waves, tc.workers, got, err, tc.want)
			}
		})
	}
}

func TestDescribeWaves(t *testing.T) {
	t.Parallel()
	ws, err := ParseWaves("10s,30s,10s", "2,12")
	if err != nil {
		t.Fatal(err)
	}
	const want = "low 10s (2 workers), high 30s (12 workers), low 10s (2 workers)"
	if got := describeWaves(ws); got != want {
		t.Errorf("describeWaves = %q, want %q", got, want)
	}
}

// copyDemo copies testdata/demo (the files of examples/demo) into a temporary directory and
// applies edit to the cartridge's JSON.
func copyDemo(t *testing.T, edit func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "demo"))); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cartridge.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(edit(string(b))), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadPlan(t *testing.T) {
	t.Parallel()
	waves, err := ParseWaves("1s,2s,3s", "2,12")
	if err != nil {
		t.Fatal(err)
	}
	same := func(s string) string { return s }
	t.Run("examples/demo", func(t *testing.T) {
		p, err := loadPlan(Options{Dir: filepath.Join("testdata", "demo"), Waves: waves})
		if err != nil {
			t.Fatal(err)
		}
		if p.cartridge.Type != "demo-web" || p.autoscale != "demo-autoscaling" || p.deployment != "demo-deployment" || p.proxyPort != 8280 {
			t.Errorf("plan: cartridge %s, policies %s and %s, proxy port %d; want demo-web, demo-autoscaling and demo-deployment, 8280",
				p.cartridge.Type, p.autoscale, p.deployment, p.proxyPort)
		}
		if p.np.ID != "demo-local" || p.np.Provider != "local" || len(p.np.Partitions) != 1 || p.np.Partitions[0].ID != "demo-local-p1" {
			t.Errorf("network partition %+v; want demo-local (local) with partition demo-local-p1", p.np)
		}
		if !reflect.DeepEqual(p.waves, waves) {
			t.Errorf("waves %v, want %v", p.waves, waves)
		}
	})
	t.Run("port flags", func(t *testing.T) {
		p, err := loadPlan(Options{Dir: filepath.Join("testdata", "demo"), Waves: waves, Port: 9090, ProxyPort: 9290})
		if err != nil {
			t.Fatal(err)
		}
		pm := p.cartridge.PortMapping[0]
		if p.proxyPort != 9290 || int(pm.ProxyPort) != 9290 || int(pm.Port) != 9090 {
			t.Errorf("proxy port %d, port mapping %+v; want 9290 and port 9090", p.proxyPort, pm)
		}
	})
	for _, tc := range []struct {
		name string
		dir  func(t *testing.T) string
		o    Options
		err  string
	}{
		{name: "no directory", dir: func(t *testing.T) string { return filepath.Join(t.TempDir(), "absent") },
			err: "--demo-dir: open"},
		{name: "bad json", dir: func(t *testing.T) string { return copyDemo(t, func(string) string { return "{" }) },
			err: "cartridge.json: unexpected end of JSON input"},
		{name: "two port mappings", dir: func(t *testing.T) string {
			return copyDemo(t, func(s string) string {
				return strings.Replace(s, `"proxyPort": 8280}`, `"proxyPort": 8280}, {"name": "b", "protocol": "http", "port": 8081, "proxyPort": 8281}`, 1)
			})
		}, err: "the demo cartridge needs exactly one port mapping"},
		{name: "no policies", dir: func(t *testing.T) string {
			dir := copyDemo(t, same)
			if err := os.RemoveAll(filepath.Join(dir, "policies", "autoscaling.yaml")); err != nil {
				t.Fatal(err)
			}
			return dir
		}, err: "want one autoscaling policy and one deployment policy with one network partition"},
		{name: "no waves", dir: func(t *testing.T) string { return copyDemo(t, same) }, err: "demo: no load waves"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.Dir = tc.dir(t)
			if tc.name != "no waves" {
				o.Waves = waves
			}
			p, err := loadPlan(o)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("loadPlan = %+v, %v; want an error with %q", p, err, tc.err)
			}
		})
	}
}

func TestSampleInterval(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ window, want time.Duration }{
		{10 * time.Second, 2 * time.Second},
		{6 * time.Second, 1200 * time.Millisecond},
		{time.Second, 200 * time.Millisecond},
		{0, 200 * time.Millisecond},
	} {
		if got := SampleInterval(tc.window); got != tc.want {
			t.Errorf("SampleInterval(%s) = %s, want %s", tc.window, got, tc.want)
		}
	}
}
