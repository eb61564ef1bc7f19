package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GitRepo is a bare git repository served over smart HTTP (git http-backend through
// net/http/cgi) behind basic auth, with a work clone that Push commits from. Members clone URL
// with User and Password as a private repository.
type GitRepo struct {
	URL      string // http://127.0.0.1:port/<name>.git
	User     string
	Password string

	t    testing.TB
	work string
}

// GitServer creates a bare repository holding files (path -> content) in one commit on branch
// master and serves it until the test ends. Without git or git-http-backend the test is skipped
// (failed in CI).
func GitServer(t testing.TB, name string, files map[string]string) *GitRepo {
	t.Helper()
	Program(t, "git")
	backend := "/usr/lib/git-core/git-http-backend"
	if out, err := exec.Command("git", "--exec-path").Output(); err == nil {
		backend = filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	}
	if _, err := os.Stat(backend); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("git-http-backend not found at %s", backend)
		}
		t.Skipf("git-http-backend not found at %s", backend)
	}
	root := t.TempDir()
	r := &GitRepo{User: "git-" + name, Password: randomHex(t), t: t, work: filepath.Join(root, name+"-work")}
	bare := filepath.Join(root, name+".git")
	r.git(root, "init", "-q", "--bare", bare)
	r.git(root, "init", "-q", r.work)
	r.git(r.work, "remote", "add", "origin", bare)
	r.Push(files)

	h := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		u, p, ok := req.BasicAuth()
		if !ok || u != r.User || p != r.Password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/" + name + ".git"
	return r
}

// Push commits files (path -> content; other files stay) and pushes them to the served
// repository. It returns the new commit's hash.
func (r *GitRepo) Push(files map[string]string) string {
	r.t.Helper()
	for name, body := range files {
		p := filepath.Join(r.work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git(r.work, "add", "-A")
	r.git(r.work, "commit", "-q", "-m", "update")
	r.git(r.work, "push", "-q", "origin", "master")
	return strings.TrimSpace(r.git(r.work, "rev-parse", "HEAD"))
}

func (r *GitRepo) git(dir string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=strata-test", "-c", "user.email=test@strata.invalid",
		"-c", "init.defaultBranch=master", "-c", "commit.gpgsign=false"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func randomHex(t testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
