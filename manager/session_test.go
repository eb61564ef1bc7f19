package manager

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"
)

// TestSessionPermissions: GET /session names the caller and the permissions the authorisation
// policy grants it, so that a client offers only what the API allows.
func TestSessionPermissions(t *testing.T) {
	e := newEnv(t)
	expect(t, "add tenant", e.admin("POST", "/api/tenants", []byte(`{"admin":"alice","adminPassword":"alice-pass-1","tenantDomain":"acme.test","email":"a@acme.test"}`)), 201, "")
	expect(t, "add user", e.do("POST", "/api/users", "alice@acme.test", "alice-pass-1", []byte(`{"userName":"bob","credential":"bob-pass-12","role":"user"}`)), 201, "")
	tests := []struct {
		name, user, password, role string
		want, notWant              []string
	}{
		{name: "admin", user: "admin", password: adminPassword, role: RoleAdmin,
			want: []string{"applications:manage", "tenants:manage", "history:view"}},
		{name: "tenant admin", user: "alice@acme.test", password: "alice-pass-1", role: RoleTenantAdmin,
			want: []string{"applications:manage", "applications:view", "applicationPolicies:view"}, notWant: []string{"tenants:manage", "cartridges:manage"}},
		{name: "user", user: "bob@acme.test", password: "bob-pass-12", role: RoleUser,
			want: []string{"applications:view", "history:view"}, notWant: []string{"applications:manage", "users:manage"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do("GET", "/api/session", tt.user, tt.password, nil)
			expect(t, "GET /session", r, 200, "")
			var got session
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			name, domain := Qualify(tt.user)
			if got.User != name || got.TenantDomain != domain || got.Role != tt.role {
				t.Errorf("session = %+v, want user %s, tenant %s, role %s", got, name, domain, tt.role)
			}
			for _, p := range tt.want {
				if !slices.Contains(got.Permissions, p) {
					t.Errorf("permissions %v lack %s", got.Permissions, p)
				}
			}
			for _, p := range tt.notWant {
				if slices.Contains(got.Permissions, p) {
					t.Errorf("permissions %v include %s", got.Permissions, p)
				}
			}
		})
	}
}

// TestConsoleServesOutsideAPI: with Options.Console, the paths outside /api, /healthz, /readyz and
// /metrics go to it, without the API's routing context; without it they answer 404.
func TestConsoleServesOutsideAPI(t *testing.T) {
	for _, withConsole := range []bool{true, false} {
		db, err := bbolt.Open(filepath.Join(t.TempDir(), "manager.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		users, err := NewUsers(db)
		if err != nil {
			t.Fatal(err)
		}
		users.cost = bcrypt.MinCost
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ln.Close() })
		opts := Options{Listener: ln, Users: users}
		if withConsole {
			opts.Console = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = w.Write([]byte("console " + r.URL.Path))
			})
		}
		s, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			path, want, without string
			code, codeWithout   int
		}{
			{path: "/", want: "console /", code: 200, without: "no such resource: /", codeWithout: 404},
			{path: "/apps/x", want: "console /apps/x", code: 200, without: "no such resource", codeWithout: 404},
			{path: "/api/nothing", want: "requires authentication", code: 401, without: "requires authentication", codeWithout: 401},
			{path: "/healthz", want: "ok", code: 200, without: "ok", codeWithout: 200},
		} {
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
			want, code := tt.want, tt.code
			if !withConsole {
				want, code = tt.without, tt.codeWithout
			}
			if rec.Code != code || !strings.Contains(rec.Body.String(), want) {
				t.Errorf("console %t: GET %s = %d %q, want %d with %q", withConsole, tt.path, rec.Code, rec.Body.String(), code, want)
			}
		}
	}
}
