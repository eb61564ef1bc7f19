package modules

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// unpack returns an archive's files: name -> mode and content.
func unpack(t *testing.T, archive []byte) map[string]string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = fmt.Sprintf("%o %s", h.Mode, b)
	}
}

func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// fakeCartridges is the controller's cartridge lookup, from properties per type.
func fakeCartridges(props map[string][]model.NameValue) func(string) (model.Cartridge, error) {
	return func(typ string) (model.Cartridge, error) {
		p, ok := props[typ]
		if !ok {
			return model.Cartridge{}, fmt.Errorf("cartridge %q: %w", typ, controller.ErrNotFound)
		}
		return model.Cartridge{Type: typ, Property: p}, nil
	}
}

func prop(name, value string) model.NameValue {
	return model.NameValue{Name: name, Value: model.String(value)}
}

// TestDirectoryModule: a directory module's archive holds its files with their executable bits
// (not .git), its version is a content hash that changes with any file and stays with none.
func TestDirectoryModule(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"install.sh": "echo hi\n", "conf/httpd.conf": "Listen 80\n", ".git/HEAD": "ref\n"})
	s, err := New(Options{Cartridge: fakeCartridges(map[string][]model.NameValue{"php": {prop(PropertyDir, dir)}}),
		Member: func(string, string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	m1, err := s.Module(t.Context(), "php", false)
	if err != nil {
		t.Fatal(err)
	}
	got := unpack(t, m1.Archive)
	want := map[string]string{"install.sh": "755 echo hi\n", "conf/httpd.conf": "644 Listen 80\n"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("archive %v, want %v", got, want)
	}
	again, _ := s.Module(t.Context(), "php", true)
	if !strings.HasPrefix(m1.Version, "sha256:") || again.Version != m1.Version {
		t.Errorf("versions %q then %q, want the same content hash", m1.Version, again.Version)
	}
	writeFiles(t, dir, map[string]string{"conf/httpd.conf": "Listen 8080\n"})
	if m2, _ := s.Module(t.Context(), "php", true); m2.Version == m1.Version {
		t.Errorf("version %q unchanged after a file changed", m2.Version)
	}
}

func TestSourceOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		props []model.NameValue
		want  string // error text; "" for none
	}{
		{name: "dir", props: []model.NameValue{prop(PropertyDir, "/srv/modules/php")}},
		{name: "repo", props: []model.NameValue{prop(PropertyRepo, "https://git.example/php.git"), prop(PropertyRef, "v2")}},
		{name: "none", want: "names no module"},
		{name: "both", props: []model.NameValue{prop(PropertyDir, "/a"), prop(PropertyRepo, "https://b")}, want: "name one"},
		{name: "relative", props: []model.NameValue{prop(PropertyDir, "modules/php")}, want: "not an absolute path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SourceOf(model.Cartridge{Type: "php", Property: tc.props})
			if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("SourceOf = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestGitModule: a git module's version is the commit of its ref; a push gives a new version
// and the new files; a module without install.sh is refused.
func TestGitModule(t *testing.T) {
	t.Parallel()
	repo := testenv.GitServer(t, "php-module", map[string]string{"install.sh": "echo v1\n"})
	u, _ := url.Parse(repo.URL)
	u.User = url.UserPassword(repo.User, repo.Password)
	s, err := New(Options{Cartridge: fakeCartridges(map[string][]model.NameValue{"php": {prop(PropertyRepo, u.String()), prop(PropertyRef, "master")}}),
		Member: func(string, string) (string, bool) { return "", false }})
	if err != nil {
		t.Fatal(err)
	}
	m1, err := s.Module(t.Context(), "php", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(m1.Version) != 40 || unpack(t, m1.Archive)["install.sh"] != "644 echo v1\n" {
		t.Errorf("module %q %v, want a commit and install.sh", m1.Version, unpack(t, m1.Archive))
	}
	repo.Push(map[string]string{"install.sh": "echo v2\n"})
	v2, err := s.Module(t.Context(), "php", true)
	if err != nil || v2.Version == m1.Version || len(v2.Version) != 40 {
		t.Fatalf("version after a push %q (%v), want a new commit", v2.Version, err)
	}
	m2, err := s.Module(t.Context(), "php", false)
	if err != nil || m2.Version != v2.Version || unpack(t, m2.Archive)["install.sh"] != "644 echo v2\n" {
		t.Errorf("module after a push %q %v (%v), want %s with the new install.sh", m2.Version, unpack(t, m2.Archive), err, v2.Version)
	}
}

// TestHandlerAuth: only a member of the cartridge type gets its module; anonymous and wrong
// credentials get 401, another type's member 403, a cartridge without module 404.
func TestHandlerAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"install.sh": "true\n"})
	members := map[string]string{"member.a": "php", "member.b": "tomcat"}
	s, err := New(Options{
		Cartridge: fakeCartridges(map[string][]model.NameValue{"php": {prop(PropertyDir, dir)}, "tomcat": nil}),
		Member: func(user, password string) (string, bool) {
			typ, ok := members[user]
			return typ, ok && password == "pw-"+user
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, tc := range []struct {
		name, path, user, password string
		want                       int
	}{
		{name: "own module", path: "/php", user: "member.a", password: "pw-member.a", want: http.StatusOK},
		{name: "own version", path: "/php/version", user: "member.a", password: "pw-member.a", want: http.StatusOK},
		{name: "anonymous", path: "/php", want: http.StatusUnauthorized},
		{name: "wrong password", path: "/php/version", user: "member.a", password: "guess", want: http.StatusUnauthorized},
		{name: "another type", path: "/php", user: "member.b", password: "pw-member.b", want: http.StatusForbidden},
		{name: "no module", path: "/tomcat/version", user: "member.b", password: "pw-member.b", want: http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.password)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("GET %s = %d, want %d", tc.path, resp.StatusCode, tc.want)
			}
			if tc.want == http.StatusOK && !strings.HasPrefix(resp.Header.Get(VersionHeader), "sha256:") {
				t.Errorf("GET %s: %s %q, want the version", tc.path, VersionHeader, resp.Header.Get(VersionHeader))
			}
		})
	}
}
