package manager

import (
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestMockIaaSRoute: Options.MockIaaS is served under /mock-iaas/api with the prefix stripped,
// authenticated like /api; the default policy leaves it to the super tenant's admin, and a
// replaced policy decides per action (GET views, DELETE manages).
func TestMockIaaSRoute(t *testing.T) {
	e := newEnv(t)
	users := e.srv.opts.Users
	if err := users.Put("viewer", SuperTenantDomain, RoleUser, "viewer-secret-1"); err != nil {
		t.Fatal(err)
	}
	var got []string
	mockAPI := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.Path)
		w.WriteHeader(http.StatusOK)
	})
	serve := func(policy string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		s, err := New(Options{Listener: ln, Users: users, Logger: slog.New(slog.DiscardHandler), AuthzPolicy: policy, MockIaaS: mockAPI})
		if err != nil {
			t.Fatal(err)
		}
		e.h = s.Handler()
	}
	serve("")
	expect(t, "no credentials", e.do("GET", "/mock-iaas/api/status", "", "", nil), http.StatusUnauthorized, "")
	expect(t, "admin GET", e.admin("GET", "/mock-iaas/api/instances/m1", nil), http.StatusOK, "")
	expect(t, "admin DELETE", e.admin("DELETE", "/mock-iaas/api/instances/m1", nil), http.StatusOK, "")
	expect(t, "a tenant user", e.do("GET", "/mock-iaas/api/instances", "viewer", "viewer-secret-1", nil), http.StatusForbidden, "permissions")

	path := filepath.Join(t.TempDir(), "authz.rego")
	if err := os.WriteFile(path, []byte("package strata.authz\n\nallow if input.action == \"view\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serve(path)
	expect(t, "GET under a view-only policy", e.do("GET", "/mock-iaas/api/status", "viewer", "viewer-secret-1", nil), http.StatusOK, "")
	expect(t, "DELETE under a view-only policy", e.admin("DELETE", "/mock-iaas/api/instances/m2", nil), http.StatusForbidden, "permissions")

	if want := []string{"GET /instances/m1", "DELETE /instances/m1", "GET /status"}; !slices.Equal(got, want) {
		t.Errorf("the mock IaaS handler got %q, want %q", got, want)
	}
}
