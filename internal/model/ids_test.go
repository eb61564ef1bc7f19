package model

import (
	"sync"
	"testing"
)

func TestIDs(t *testing.T) {
	if got, want := ClusterID("app1", "php1", "php"), "app1.php1.php.domain"; got != want {
		t.Errorf("ClusterID = %q, want %q", got, want)
	}
	if got, want := HostName("app1", "php1", "stratos.org", false), "app1.php1.stratos.org"; got != want {
		t.Errorf("HostName single-tenant = %q, want %q", got, want)
	}
	if got, want := HostName("app1", "php1", "stratos.org", true), "app1.stratos.org"; got != want {
		t.Errorf("HostName multi-tenant = %q, want %q", got, want)
	}

	c := ClusterID("app1", "php1", "php")
	id1, id2 := NewMemberID(c), NewMemberID(c)
	if id1 == id2 {
		t.Errorf("two member ids are equal: %s", id1)
	}
	if len(id1) != len(c)+36 {
		t.Errorf("member id %q has length %d, want %d", id1, len(id1), len(c)+36)
	}
	if got, ok := MemberClusterID(id1); !ok || got != c {
		t.Errorf("MemberClusterID(%q) = %q, %v", id1, got, ok)
	}
	if _, ok := MemberClusterID("short"); ok {
		t.Error("MemberClusterID accepted an id without a UUID")
	}
	u := NewUUID()
	if !isUUID(u) || u[14] != '4' {
		t.Errorf("NewUUID = %q, not a version 4 UUID", u)
	}

	if got := InstanceID("app1", 3); got != "app1-3" {
		t.Errorf("InstanceID = %q", got)
	}
	for _, tt := range []struct {
		id    string
		alias string
		n     int
		ok    bool
	}{
		{id: "app1-3", alias: "app1", n: 3, ok: true},
		{id: "my-app-12", alias: "my-app", n: 12, ok: true},
		{id: "app1", ok: false},
		{id: "-1", ok: false},
		{id: "app-0", ok: false},
		{id: "app-x", ok: false},
	} {
		alias, n, ok := ParseInstanceID(tt.id)
		if alias != tt.alias || n != tt.n || ok != tt.ok {
			t.Errorf("ParseInstanceID(%q) = %q, %d, %v; want %q, %d, %v", tt.id, alias, n, ok, tt.alias, tt.n, tt.ok)
		}
	}
}

func TestInstanceSequence(t *testing.T) {
	var s InstanceSequence
	if got := s.Next("php1"); got != "php1-1" {
		t.Errorf("first Next = %q", got)
	}
	var wg sync.WaitGroup
	seen := sync.Map{}
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if _, dup := seen.LoadOrStore(s.Next("php1"), true); dup {
					t.Error("duplicate instance id")
				}
			}
		})
	}
	wg.Wait()
	if got := s.Last(); got != 401 {
		t.Errorf("Last = %d, want 401", got)
	}
	s.Reset(10)
	if got := s.Next("a"); got != "a-11" {
		t.Errorf("Next after Reset(10) = %q", got)
	}
}
