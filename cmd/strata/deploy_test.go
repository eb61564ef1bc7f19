package main

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The install files of deploy/, checked here because no container engine runs in CI: the image
// build, the compose file and the systemd unit.
const deployDir = "../../deploy"

// dockerfile is what the tests read from deploy/Dockerfile.
type dockerfile struct {
	builder string   // the first FROM image
	make    []string // the words of the RUN line that builds strata
	expose  []string
	cmd     []string // the exec-form CMD
}

func readDockerfile(t *testing.T) dockerfile {
	t.Helper()
	f, err := os.Open(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var d dockerfile
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		word, rest, _ := strings.Cut(line, " ")
		switch word {
		case "FROM":
			if d.builder == "" {
				d.builder = strings.Fields(rest)[0]
			}
		case "RUN":
			if f := strings.Fields(rest); len(f) > 1 && f[0] == "make" {
				if d.make != nil {
					t.Fatalf("two RUN make lines in the Dockerfile")
				}
				d.make = f
			}
		case "EXPOSE":
			d.expose = append(d.expose, strings.Fields(rest)...)
		case "CMD":
			if err := json.Unmarshal([]byte(rest), &d.cmd); err != nil {
				t.Fatalf("CMD is not in exec form: %v", err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if d.make == nil || d.cmd == nil {
		t.Fatalf("the Dockerfile has no RUN make line or no CMD: %+v", d)
	}
	return d
}

// upFlags returns the flags `strata up -h` lists, by name.
func upFlags(t *testing.T, bin string) map[string]bool {
	t.Helper()
	out, _ := exec.Command(bin, "up", "-h").CombinedOutput() // -h exits 0 or 2, with the usage
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z][a-z0-9-]*)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if !flags["api"] || !flags["data-dir"] {
		t.Fatalf("strata up -h lists no --api or --data-dir:\n%s", out)
	}
	return flags
}

// splitFlagArgs splits `--name value` and `--name=value` arguments (after the subcommand) into a
// map; a name may end the list or be followed by another flag only if it is boolean, which none
// of the deploy files use.
func splitFlagArgs(t *testing.T, args []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			t.Fatalf("argument %q is not a flag (in %q)", a, args)
		}
		name, value, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !ok {
			if i+1 >= len(args) {
				t.Fatalf("flag %s has no value (in %q)", a, args)
			}
			i++
			value = args[i]
		}
		out[name] = value
	}
	return out
}

// checkUpFlags checks deployed `strata up` flags against the binary: each one exists, and with
// wantAll every listener takes every interface.
func checkUpFlags(t *testing.T, where string, known map[string]bool, flags map[string]string, wantAll []string) {
	t.Helper()
	for name := range flags {
		if !known[name] {
			t.Errorf("%s: strata up has no flag --%s", where, name)
		}
	}
	for _, name := range wantAll {
		v, ok := flags[name]
		if !ok {
			t.Errorf("%s: no --%s, and its default listens on 127.0.0.1 only", where, name)
			continue
		}
		if name == "lb-host" {
			if v != "" && v != "0.0.0.0" {
				t.Errorf("%s: --lb-host %q: the proxy ports would not be reachable from outside", where, v)
			}
			continue
		}
		host, _, err := net.SplitHostPort(v)
		if err != nil || (host != "0.0.0.0" && host != "" && host != "::") {
			t.Errorf("%s: --%s %q does not listen on every interface", where, name, v)
		}
	}
}

func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return p
}

// buildRelease builds strata as deploy/Dockerfile does: its RUN make line, run at the repository
// root with only OUT pointed at a temporary file.
func buildRelease(t *testing.T, d dockerfile) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "strata")
	args := slices.Clone(d.make[1:])
	replaced := false
	for i, a := range args {
		if strings.HasPrefix(a, "OUT=") {
			args[i], replaced = "OUT="+bin, true
		}
	}
	if !replaced {
		t.Fatalf("the Dockerfile's %q does not say where the binary goes (OUT=)", strings.Join(d.make, " "))
	}
	cmd := exec.Command("make", args...)
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

// TestDeployImage builds the binary as the Dockerfile does and checks that it runs, that it is
// static (the runtime image has no C library), that the builder's Go is go.mod's, and that the
// CMD's flags exist, listen on every interface and are exposed.
func TestDeployImage(t *testing.T) {
	t.Parallel()
	d := readDockerfile(t)
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVersion == nil || !strings.HasPrefix(d.builder, "golang:"+string(goVersion[1])) {
		t.Errorf("builder image %s, want golang:%s (go.mod)", d.builder, goVersion[1])
	}

	bin := buildRelease(t, d)
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "strata ") {
		t.Errorf("strata version: %v\n%s", err, out)
	}
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the release binary is dynamically linked; distroless/static has no C library")
		}
	}

	if len(d.cmd) == 0 || d.cmd[0] != "up" {
		t.Fatalf("CMD %q does not run strata up", d.cmd)
	}
	flags := splitFlagArgs(t, d.cmd[1:])
	checkUpFlags(t, "Dockerfile CMD", upFlags(t, bin), flags, []string{"api", "mqtt-listen", "thrift", "thrift-tls", "lb-host"})
	for _, name := range []string{"api", "mqtt-listen", "thrift", "thrift-tls"} {
		if v, ok := flags[name]; ok && !slices.Contains(d.expose, port(t, v)) {
			t.Errorf("--%s %s: port not in EXPOSE %v", name, v, d.expose)
		}
	}
	if flags["data-dir"] == "" {
		t.Error("CMD has no --data-dir: the data would go to the working directory, not the volume")
	}
}

// compose is a compose file, with the keys deploy/compose.yaml uses: the test decodes it
// strictly, so a misspelt key fails.
type compose struct {
	Name     string
	Services map[string]struct {
		Image       string
		Build       *struct{ Context, Dockerfile string }
		Restart     string
		Command     []string
		Entrypoint  []string
		Environment map[string]string
		Ports       []string
		Volumes     []string
		DependsOn   []string `yaml:"depends_on"`
		Ulimits     map[string]struct{ Soft, Hard int }
	}
	Volumes map[string]any
}

// TestDeployCompose validates deploy/compose.yaml without a container engine: every service has
// an image, the files it mounts are in the repository, the named volumes are declared, strata's
// flags exist and its published ports are the ones it listens on, and Prometheus and Grafana
// point at services and ports that exist.
func TestDeployCompose(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(deployDir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	for _, want := range []string{"strata", "mosquitto", "clickhouse", "prometheus", "grafana"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("no %s service", want)
		}
	}
	for name, s := range c.Services {
		if s.Image == "" {
			t.Errorf("service %s has no image", name)
		}
		if b := s.Build; b != nil {
			if _, err := os.Stat(filepath.Join(deployDir, b.Context, b.Dockerfile)); err != nil {
				t.Errorf("service %s builds with a missing Dockerfile: %v", name, err)
			}
		}
		for _, dep := range s.DependsOn {
			if _, ok := c.Services[dep]; !ok {
				t.Errorf("service %s depends on %s, which is no service", name, dep)
			}
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(deployDir, src)); err != nil {
					t.Errorf("service %s mounts %s, which is not in the repository", name, src)
				}
			} else if _, ok := c.Volumes[src]; !ok {
				t.Errorf("service %s uses volume %s, which the file does not declare", name, src)
			}
		}
	}

	s := c.Services["strata"]
	if len(s.Command) == 0 || s.Command[0] != "up" {
		t.Fatalf("strata's command %q does not run strata up", s.Command)
	}
	flags := splitFlagArgs(t, s.Command[1:])
	checkUpFlags(t, "compose strata", upFlags(t, strataBin), flags, []string{"api", "thrift", "thrift-tls", "lb-host"})
	listens := map[string]bool{"8280": true} // the load balancer port of the Stratos samples
	for _, name := range []string{"api", "thrift", "thrift-tls", "mqtt-listen"} {
		if v, ok := flags[name]; ok {
			listens[port(t, v)] = true
		}
	}
	for _, p := range s.Ports {
		container := p[strings.LastIndex(p, ":")+1:]
		if !listens[container] {
			t.Errorf("strata publishes %s, but listens on none of it (%v)", p, listens)
		}
	}
	for _, ref := range []struct{ flag, service string }{{"broker", "mosquitto"}, {"clickhouse", "clickhouse"}} {
		if !strings.Contains(flags[ref.flag], "@"+ref.service+":") && !strings.Contains(flags[ref.flag], "//"+ref.service+":") {
			t.Errorf("--%s %q does not point at the %s service", ref.flag, flags[ref.flag], ref.service)
		}
	}
	for _, env := range []string{"STRATA_ADMIN_PASSWORD", "STRATA_BROKER_USERNAME", "STRATA_BROKER_PASSWORD"} {
		if s.Environment[env] == "" {
			t.Errorf("strata's environment has no %s", env)
		}
	}

	// Prometheus scrapes strata's --api port; Grafana's data sources are compose services.
	prom, err := os.ReadFile(filepath.Join(deployDir, "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "strata:" + port(t, flags["api"]); !strings.Contains(string(prom), `"`+want+`"`) {
		t.Errorf("prometheus.yml does not scrape %s", want)
	}
	var ds struct {
		Datasources []struct{ Name, UID, Type, URL string }
	}
	readYAML(t, filepath.Join(deployDir, "grafana", "provisioning", "datasources", "strata.yaml"), &ds)
	types := map[string]bool{}
	for _, d := range ds.Datasources {
		types[d.Type] = true
		host := strings.Split(strings.TrimPrefix(d.URL, "http://"), ":")[0]
		if _, ok := c.Services[host]; !ok {
			t.Errorf("data source %s points at %s, which is no service", d.Name, d.URL)
		}
	}
	// Each dashboard's data source variable picks a provisioned data source of its type.
	for file, typ := range map[string]string{"strata-metrics.json": "prometheus", "strata-history.json": "vertamedia-clickhouse-datasource"} {
		type variable struct {
			Type  string
			Query any // a string, or an object for query variables
		}
		var dash struct {
			Templating struct{ List []variable }
		}
		b, err := os.ReadFile(filepath.Join("../../dashboards", file))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &dash); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if !slices.ContainsFunc(dash.Templating.List, func(v variable) bool {
			return v.Type == "datasource" && v.Query == typ
		}) {
			t.Errorf("%s has no data source variable of type %s: a provisioned dashboard cannot resolve ${DS_...}", file, typ)
		}
		if !types[typ] {
			t.Errorf("no %s data source is provisioned for %s", typ, file)
		}
	}
	var dp struct {
		Providers []struct {
			Options struct{ Path string }
		}
	}
	readYAML(t, filepath.Join(deployDir, "grafana", "provisioning", "dashboards", "strata.yaml"), &dp)
	if len(dp.Providers) != 1 || !slices.Contains(c.Services["grafana"].Volumes, "../dashboards:"+dp.Providers[0].Options.Path+":ro") {
		t.Errorf("the dashboard provider reads %+v, which is not where compose mounts ../dashboards", dp.Providers)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestDeploySystemdUnit runs `systemd-analyze verify` on deploy/systemd/strata.service (any
// warning fails, since verify reports unknown keys only as warnings) with ExecStart pointed at a
// built strata, checks its hardening with `systemd-analyze security --offline`, and checks its
// flags against the binary.
func TestDeploySystemdUnit(t *testing.T) {
	t.Parallel()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("systemd-analyze is missing; CI must verify the unit (apt-get install systemd)")
		}
		t.Skip("systemd-analyze is missing: the unit is not verified")
	}
	unit, err := os.ReadFile(filepath.Join(deployDir, "systemd", "strata.service"))
	if err != nil {
		t.Fatal(err)
	}
	exe := regexp.MustCompile(`(?m)^ExecStart=(\S+) up (.*)$`).FindSubmatch(unit)
	if exe == nil {
		t.Fatal("the unit has no ExecStart=… up …")
	}
	checkUpFlags(t, "unit ExecStart", upFlags(t, strataBin), splitFlagArgs(t, strings.Fields(string(exe[2]))), nil)
	for _, want := range []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "StateDirectory=strata", "CapabilityBoundingSet=\n", "DynamicUser=yes"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit lacks %q", strings.TrimSpace(want))
		}
	}
	// verify checks that ExecStart's binary exists: point it at the binary under test.
	dir := t.TempDir()
	path := filepath.Join(dir, "strata.service")
	local := strings.Replace(string(unit), "ExecStart="+string(exe[1])+" ", "ExecStart="+strataBin+" ", 1)
	if err := os.WriteFile(path, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Exposure 0 (locked down) to 10 (unsafe); 2.0 and below is what systemd calls "OK".
	if out, err := exec.Command(analyze, "security", "--offline=true", "--threshold=20", path).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze security: %v\n%s", err, out)
	}
}
