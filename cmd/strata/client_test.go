package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/manager"
	"github.com/strata-paas/strata/manager/client"
)

func TestClientCommands(t *testing.T) {
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "manager.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	users, err := manager.NewUsers(db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := users.EnsureAdmin("client-secret"); err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	s, err := manager.New(manager.Options{Listener: ln, Users: users, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	t.Setenv("STRATA_URL", ts.URL)
	t.Setenv("STRATA_PASSWORD", "client-secret")
	t.Setenv("STRATA_TOKEN", "")
	run := func(f func([]string, *bytes.Buffer, *bytes.Buffer) int, args ...string) (string, int) {
		var out, errb bytes.Buffer
		code := f(args, &out, &errb)
		return out.String() + errb.String(), code
	}
	c := func(name string, args ...string) (string, int) {
		for _, cmd := range commands() {
			if cmd.name == name {
				return run(func(a []string, o, e *bytes.Buffer) int { return cmd.run(a, o, e) }, args...)
			}
		}
		t.Fatalf("no command %s", name)
		return "", 0
	}
	s1 := samplesDir + "/"
	for _, d := range [][2]string{
		{"autoscaling-policy", "autoscaling-policies__autoscaling-policy-1.json"},
		{"network-partition", "network-partitions__mock__network-partition-1.json"},
		{"deployment-policy", "deployment-policies__deployment-policy-1.json"},
		{"cartridge", "cartridges__mock__php.json"},
		{"application-policy", "application-policies__application-policy-1.json"},
		{"application", "applications__simple__single-cartridge-app__artifacts__application.json"},
	} {
		if out, code := c("deploy", d[0], s1+d[1]); code != 0 || !strings.Contains(out, "added successfully") {
			t.Fatalf("deploy %s: %d %s", d[0], code, out)
		}
	}
	if out, code := c("deploy", "cartridge", s1+"cartridges__mock__php.json"); code != 1 || !strings.Contains(out, "409") {
		t.Errorf("deploy twice: %d %s", code, out)
	}
	if out, code := c("list", "cartridge"); code != 0 || !strings.Contains(out, "TYPE") || !strings.Contains(out, "php") {
		t.Errorf("list: %d %s", code, out)
	}
	out, code := c("list", "--output", "json", "application")
	var apps []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &apps) != nil || len(apps) != 1 || apps[0]["status"] != "Created" {
		t.Errorf("list json: %d %s", code, out)
	}
	if out, code := c("list", "subscription"); code != 0 {
		t.Errorf("empty list: %d %s", code, out)
	}
	if out, code := c("deploy-app", "--timeout", "0", "single-cartridge-app", "application-policy-1"); code != 0 || !strings.Contains(out, "deployed successfully") {
		t.Errorf("deploy-app: %d %s", code, out)
	}
	// The runtime status (Stratos': Created, Active, Inactive, Terminating), not the definition's.
	// By default the counts per state of each cluster instance; --members lists the members, in
	// json the whole runtime view as the API answers it without ?limit.
	if out, code := c("runtime", "single-cartridge-app"); code != 0 || !strings.Contains(out, "application single-cartridge-app: ") || strings.Contains(out, "Deployed") ||
		!strings.Contains(out, "BY STATE") || !strings.Contains(out, "members: ") {
		t.Errorf("runtime: %d %s", code, out)
	}
	if out, code := c("runtime", "--members", "single-cartridge-app"); code != 0 || !strings.Contains(out, "MEMBER STATUS") {
		t.Errorf("runtime --members: %d %s", code, out)
	}
	var whole, listed map[string]any
	api := &client.Client{URL: ts.URL, User: "admin", Password: "client-secret"}
	if err := api.Call(context.Background(), http.MethodGet, "/applications/single-cartridge-app/runtime", nil, &whole); err != nil {
		t.Fatal(err)
	}
	if out, code := c("runtime", "--members", "--output", "json", "single-cartridge-app"); code != 0 || json.Unmarshal([]byte(out), &listed) != nil || !reflect.DeepEqual(listed, whole) {
		t.Errorf("runtime --members --output json: %d %s; want the whole view %v", code, out, whole)
	}
	if out, code := c("undeploy", "--timeout", "20s", "single-cartridge-app"); code != 0 || !strings.Contains(out, "Created") {
		t.Errorf("undeploy: %d %s", code, out)
	}
	t.Setenv("STRATA_PASSWORD", "wrong")
	if out, code := c("list", "cartridge"); code != 1 || !strings.Contains(out, "401") {
		t.Errorf("wrong password: %d %s", code, out)
	}
}
