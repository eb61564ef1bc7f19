package bootstrap

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// archiveOf is a module archive of files (name -> content).
func archiveOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// storeServer is a module store for cartridge type php at version, counting archive downloads;
// it wants the member credential member.m1/pw.
func storeServer(t *testing.T, version string, archive []byte, downloads *int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "member.m1" || p != "pw" {
			http.Error(w, "a member's credential is required", http.StatusUnauthorized)
			return
		}
		w.Header().Set(VersionHeader, version)
		switch r.URL.Path {
		case "/modules/php/version":
			w.Write([]byte(version + "\n"))
		case "/modules/php":
			*downloads++
			w.Write(archive)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// member writes a launch-params file for member m1 of php with the store's URL and returns it.
func member(t *testing.T, storeURL string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "launch-params")
	payload := "APPLICATION_ID=app1,SERVICE_NAME=php,CLUSTER_ID=c1,MEMBER_ID=m1,PORTS=80,MB_URLS=127.0.0.1:1," +
		"MULTITENANT=false,TENANT_ID=-1234,CEP_USERNAME=member.m1,CEP_PASSWORD=pw,CEP_URLS=127.0.0.1:2,MB_USERNAME=member.m1,MB_PASSWORD=pw,STRATA_MODULES_URL=" + storeURL + "/modules"
	if err := os.WriteFile(p, []byte(payload), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A fully configured member whose installed version is the store's downloads nothing, runs no
// install and hands over to `strata agent` with its payload; nothing is published (the broker
// of the payload does not exist).
func TestConfiguredCurrentHandsOver(t *testing.T) {
	t.Parallel()
	var downloads int
	srv := storeServer(t, "sha256:aaaa", archiveOf(t, map[string]string{"install.sh": "exit 1\n"}), &downloads)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, VersionFile), []byte("sha256:aaaa\n"), 0o644)
	payload := member(t, srv.URL)
	h, err := Run(t.Context(), Options{Payload: payload, Dir: dir, Configured: true, Executable: "/opt/strata/bin/strata"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/opt/strata/bin/strata", "agent", "--payload", payload}; h.Path != want[0] || !slices.Equal(h.Args, want) {
		t.Errorf("hand over %s %q, want %q", h.Path, h.Args, want)
	}
	if downloads != 0 {
		t.Errorf("%d downloads of the archive, want none", downloads)
	}
}

// A fully configured member keeps what it has when the store cannot be reached; a generic one,
// or a configured image without a VERSION, fails with the store's answer.
func TestStoreUnreachable(t *testing.T) {
	t.Parallel()
	var downloads int
	srv := storeServer(t, "sha256:bbbb", nil, &downloads)
	good := member(t, srv.URL)
	bad := filepath.Join(t.TempDir(), "launch-params")
	b, _ := os.ReadFile(good)
	os.WriteFile(bad, []byte(strings.Replace(string(b), "MB_PASSWORD=pw", "MB_PASSWORD=wrong", 1)), 0o644)

	installed := t.TempDir()
	os.WriteFile(filepath.Join(installed, VersionFile), []byte("sha256:old\n"), 0o644)
	if _, err := Run(t.Context(), Options{Payload: bad, Dir: installed, Configured: true, Executable: "strata"}); err != nil {
		t.Errorf("configured with an installed module, store refusing: %v, want a hand-over", err)
	}
	for _, tc := range []struct {
		name       string
		configured bool
	}{{name: "generic"}, {name: "configured without VERSION", configured: true}} {
		_, err := Run(t.Context(), Options{Payload: bad, Dir: t.TempDir(), Configured: tc.configured, Executable: "strata"})
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("%s, store refusing: %v, want the 401", tc.name, err)
		}
	}
}

// The hand-over goes to the agent a module installed, when it is executable.
func TestHandOverToInstalledAgent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	agent := filepath.Join(dir, AgentFile)
	os.WriteFile(agent, []byte("#!/bin/sh\nexec python3 agent.py\n"), 0o755)
	h := Options{Dir: dir, Executable: "strata", Payload: "lp"}.handOver()
	if h.Path != agent || !slices.Equal(h.Args, []string{agent}) {
		t.Errorf("hand over %s %q, want %s", h.Path, h.Args, agent)
	}
}

// An archive entry that leaves the module directory is refused.
func TestUnpackRefusesEscapes(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"../evil.sh", "/etc/passwd", "a/../../evil"} {
		dir := t.TempDir()
		err := unpack(archiveOf(t, map[string]string{name: "x"}), filepath.Join(dir, "module"))
		if err == nil || !strings.Contains(err.Error(), "bad entry") {
			t.Errorf("unpack %q = %v, want a bad entry", name, err)
		}
	}
}

// FuzzUnpack: whatever the store sends, unpack writes nothing outside the module directory.
func FuzzUnpack(f *testing.F) {
	f.Add(archiveOf(f, map[string]string{"install.sh": "true\n", "conf/a.conf": "x"}))
	f.Add(archiveOf(f, map[string]string{"../x": "x"}))
	f.Fuzz(func(t *testing.T, archive []byte) {
		root := t.TempDir()
		_ = unpack(archive, filepath.Join(root, "module"))
		entries, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "module" {
				t.Fatalf("unpack wrote %s outside the module directory", e.Name())
			}
		}
	})
}
