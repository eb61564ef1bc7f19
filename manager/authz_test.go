package manager

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func TestDefaultPolicy(t *testing.T) {
	az, err := newAuthorizer(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		user     authzUser
		resource string
		action   string
		want     bool
	}{
		{name: "admin manages cartridges", user: authzUser{Role: RoleAdmin, SuperTenant: true}, resource: "cartridges", action: "manage", want: true},
		{name: "tenant admin cannot", user: authzUser{Role: RoleTenantAdmin, Tenant: "a.com"}, resource: "cartridges", action: "manage"},
		{name: "tenant admin reads cartridges", user: authzUser{Role: RoleTenantAdmin}, resource: "cartridges", action: "view", want: true},
		{name: "tenant admin subscribes", user: authzUser{Role: RoleTenantAdmin}, resource: "subscriptions", action: "manage", want: true},
		{name: "user reads subscriptions", user: authzUser{Role: RoleUser}, resource: "subscriptions", action: "view", want: true},
		{name: "user cannot subscribe", user: authzUser{Role: RoleUser}, resource: "subscriptions", action: "manage"},
		{name: "tenant admin of another tenant cannot manage tenants", user: authzUser{Role: RoleTenantAdmin}, resource: "tenants", action: "manage"},
		{name: "admin role outside the super tenant is not platform admin", user: authzUser{Role: RoleAdmin, Tenant: "a.com"}, resource: "tenants", action: "view"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := az.allow(context.Background(), authzInput{User: tc.user, Resource: tc.resource, Action: tc.action})
			if err != nil || got != tc.want {
				t.Fatalf("allow = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// TestReplacedPolicy: an operator's policy replaces the default.
func TestReplacedPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authz.rego")
	// Read-only platform: nobody may change anything.
	if err := os.WriteFile(path, []byte("package strata.authz\n\nallow if input.action == \"view\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	s, err := New(Options{Listener: ln, Users: e.srv.opts.Users, Logger: slog.New(slog.DiscardHandler), AuthzPolicy: path})
	if err != nil {
		t.Fatal(err)
	}
	e.h = s.Handler()
	expect(t, "view", e.admin("GET", "/api/init", nil), http.StatusOK, "")
	expect(t, "manage", e.admin("POST", "/api/autoscalingPolicies", sample(t, "autoscaling-policies__autoscaling-policy-1.json")), http.StatusForbidden, "permissions")
	if err := os.WriteFile(path, []byte("package strata.authz\n\nallow if {"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Listener: ln, Users: e.srv.opts.Users, AuthzPolicy: path}); err == nil {
		t.Fatal("a policy that does not compile was accepted")
	}
}
