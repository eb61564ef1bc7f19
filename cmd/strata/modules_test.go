package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// moduleFiles writes a module directory (install.sh and any other files) and returns it.
func moduleFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// waitForTest holds an install script until the test, having seen the member Starting, creates
// the file go in the install directory.
const waitForTest = `while [ ! -e "$STRATA_INSTALL_DIR/go" ]; do sleep 0.1; done`

// genericInstall installs a server (strata demo-server, started as a package's init script
// would) and an agent into the install directory, and records when it ran.
const genericInstall = `set -e
echo "installing $SERVICE_NAME $STRATA_MODULE_VERSION"
` + waitForTest + `
mkdir -p "$STRATA_INSTALL_DIR/www"
echo "generic $STRATA_MODULE_VERSION" > "$STRATA_INSTALL_DIR/www/index.html"
nohup "$STRATA_EXECUTABLE" demo-server --listen "$STRATA_MEMBER_IP:$PORTS" --burn 0s --root "$STRATA_INSTALL_DIR/www" > "$STRATA_INSTALL_DIR/server.log" 2>&1 &
printf '#!/bin/sh\nexec "%s" agent --conf "%s" --payload "%s"\n' "$STRATA_EXECUTABLE" "$STRATA_AGENT_CONF" "$STRATA_LAUNCH_PARAMS" > "$STRATA_INSTALL_DIR/agent"
chmod +x "$STRATA_INSTALL_DIR/agent"
date +%s%N > "$STRATA_INSTALL_DIR/installed-at"
echo "server and agent installed"
`

// TestModules is issue 11's generic and fully configured cartridges on the local driver, whose
// members start from nothing but `strata init`: a generic cartridge installs its server and its
// agent from the module store and goes Active, the install being part of Starting with its
// output in the history's logs; a fully configured one (an image with an older module version)
// applies the newer version before it activates; a module whose install fails shows why in the
// runtime view's startFailure. A member's credential fetches its own cartridge type's module
// only (403 for another), an anonymous request gets 401.
func TestModules(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("real processes: skipped with -short")
	}
	a, args := upArgs(t)
	api, dataDir := "http://"+a.api, args[2]
	p := startUp(t, []string{"STRATA_ADMIN_PASSWORD=s3cret-pass"}, append(args, "--monitor-interval", "1s")...)
	t.Cleanup(func() {
		if t.Failed() {
			dumpMemberLogs(t, dataDir)
		}
		killMembersInProcess(dataDir)
	})
	p.waitHTTP(t, api+"/healthz")
	events := watchBus(t, a.mqtt)

	// The image of the fully configured cartridge: module version "image-v1" installed, its
	// server's files in www/.
	image := t.TempDir()
	if err := os.MkdirAll(filepath.Join(image, "www"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"VERSION": "image-v1\n", "www/index.html": "configured image-v1\n"} {
		if err := os.WriteFile(filepath.Join(image, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	initCmd := fmt.Sprintf("exec %q init", strataBin)
	cartridges := map[string]struct {
		module         map[string]string
		agent, command string
	}{
		"gen": {module: map[string]string{"install.sh": genericInstall}, agent: initCmd + " --dir module"},
		"conf": {
			module: map[string]string{"install.sh": `echo "updating from $STRATA_MODULE_PREVIOUS_VERSION to $STRATA_MODULE_VERSION"
` + waitForTest + `
echo "configured $STRATA_MODULE_VERSION" > "$STRATA_INSTALL_DIR/www/index.html"
date +%s%N > "$STRATA_INSTALL_DIR/installed-at"
`},
			// The member boots the image (a copy in its directory) and its server, as a VM would.
			agent:   fmt.Sprintf("cp -R %q image && %s --configured --dir image", image, initCmd),
			command: fmt.Sprintf(`exec %q demo-server --listen "$STRATA_MEMBER_IP:$PORTS" --burn 0s --root "$STRATA_MEMBER_DIR/image/www"`, strataBin),
		},
		"broken": {module: map[string]string{"install.sh": `echo "checking the disk"
echo "cannot install php 7: no space left on /opt" >&2
exit 3
`}, agent: initCmd + " --dir module"},
	}
	posts := localPolicies()
	for typ, c := range cartridges {
		iaas := []map[string]string{{"name": "agent", "value": c.agent}}
		if c.command != "" {
			iaas = append(iaas, map[string]string{"name": "command", "value": c.command})
		}
		posts = append(posts, post{"/cartridges", map[string]any{
			"type": typ, "provider": "apache", "category": "framework", "host": typ + ".strata.local", "multiTenant": "false",
			"portMapping": []map[string]any{{"name": "http", "protocol": "http", "port": testenv.FreePort(t), "proxyPort": testenv.FreePort(t)}},
			"property": []map[string]string{{"name": "strata.module.dir", "value": moduleFiles(t, c.module)},
				{"name": "payload_parameter.port.check.interval", "value": "1"}},
			"iaasProvider": []map[string]any{{"type": "local", "property": iaas}},
		}}, post{"/applications", map[string]any{"applicationId": "app-" + typ, "alias": "app-" + typ, "components": map[string]any{
			"cartridges": []map[string]any{{"type": typ, "cartridgeMin": 1, "cartridgeMax": 1, "subscribableInfo": map[string]any{
				"alias": "web", "autoscalingPolicy": localAutoscale, "deploymentPolicy": localDeploy}}}}}})
	}
	postAll(t, api, posts)
	for typ := range cartridges {
		if code, body, _ := call(t, http.MethodPost, api+"/api/applications/app-"+typ+"/deploy/"+localAppPolicy, ""); code != http.StatusAccepted {
			t.Fatalf("deploy app-%s = %d %s", typ, code, body)
		}
	}

	// A failed install is the member's start failure, with the script's reason.
	waitUntil(t, 120*time.Second, "a start failure of app-broken", func() bool {
		code, body, _ := call(t, http.MethodGet, api+"/api/applications/app-broken/runtime", "")
		return code == http.StatusOK && strings.Contains(body, `"startFailure"`)
	})
	f := startFailureOf(t, api, "app-broken")
	if reason, _ := f["reason"].(string); !strings.Contains(reason, "install.sh: exit status 3: cannot install php 7: no space left on /opt") {
		t.Errorf("startFailure %v, want the install script's exit status and last line", f)
	}

	// The install runs while the member is Starting: the scripts wait until the test saw the
	// member Starting, and it stays Starting until the install is done.
	subDir := map[string]string{"gen": "module", "conf": "image"}
	released := map[string]time.Time{}
	for _, typ := range []string{"gen", "conf"} {
		var member string
		waitUntil(t, 120*time.Second, "a Starting member of app-"+typ, func() bool {
			for id, st := range runtimeMembers(t, api, "app-"+typ) {
				if st == string(model.MemberStarting) && !events.first(id, "MemberStartedEvent").IsZero() {
					member = id
				}
			}
			return member != ""
		})
		dir := filepath.Join(memberDir(dataDir, member), subDir[typ])
		if _, err := os.Stat(filepath.Join(dir, "VERSION")); typ == "gen" && !os.IsNotExist(err) {
			t.Errorf("%s: VERSION before the install finished: %v", typ, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		released[member] = time.Now()
		if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Both other cartridges go Active.
	active := map[string]string{}
	for _, typ := range []string{"gen", "conf"} {
		waitUntil(t, 120*time.Second, "an Active member of app-"+typ, func() bool {
			ms := activeMembers(runtimeMembers(t, api, "app-"+typ))
			if len(ms) == 1 {
				active[typ] = ms[0]
			}
			return len(ms) == 1
		})
	}
	for typ, sub := range subDir {
		member := active[typ]
		dir := filepath.Join(memberDir(dataDir, member), sub)
		version, _ := os.ReadFile(filepath.Join(dir, "VERSION"))
		if !strings.HasPrefix(string(version), "sha256:") {
			t.Errorf("%s: VERSION %q, want the store's content hash", typ, version)
		}
		installLog, _ := os.ReadFile(filepath.Join(dir, "install.log"))
		// The install ended after the test released it and before the member was Active. The
		// runtime view may show the member Active before the test's bus watcher has its event.
		waitUntil(t, 20*time.Second, "the MemberActivatedEvent of "+member+" at the test's watcher", func() bool {
			return !events.first(member, "MemberActivatedEvent").IsZero()
		})
		b, _ := os.ReadFile(filepath.Join(dir, "installed-at"))
		nanos, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		installed, activated := time.Unix(0, nanos), events.first(member, "MemberActivatedEvent")
		if err != nil || released[member].IsZero() || activated.IsZero() || installed.Before(released[member]) || !installed.Before(activated) {
			t.Errorf("%s: released %v, installed at %v (%v), activated %v: want the install between them; events %v",
				typ, released[member], installed, err, activated, events.sequence(member))
		}
		// Its output is in the member's logs in the history.
		last := map[string]string{"gen": "server and agent installed", "conf": "updating from image-v1 to sha256:"}[typ]
		if !strings.Contains(string(installLog), last) {
			t.Errorf("%s: install.log %q, want %q", typ, installLog, last)
		}
		waitUntil(t, 30*time.Second, typ+"'s install output in /api/history/logs", func() bool {
			code, body, _ := call(t, http.MethodGet, api+"/api/history/logs?from=10m&member="+member+"&contains=install:", "")
			return code == http.StatusOK && strings.Contains(body, last)
		})
	}
	// The generic member runs the server and the agent its module installed.
	if b, err := os.ReadFile(filepath.Join(memberDir(dataDir, active["gen"]), "module", "agent")); err != nil || !strings.Contains(string(b), " agent --conf ") {
		t.Errorf("the generic module's agent: %q %v", b, err)
	}

	// The store answers a member's own credential for its own cartridge type only.
	params, err := os.ReadFile(filepath.Join(memberDir(dataDir, active["gen"]), "launch-params"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := model.ParsePayload(strings.NewReader(string(params)))
	if err != nil {
		t.Fatal(err)
	}
	store, _ := payload.Get(model.PayloadModulesURL)
	user, _ := payload.Get(model.PayloadMBUsername)
	password, _ := payload.Get(model.PayloadMBPassword)
	for _, tc := range []struct {
		path, user, password string
		want                 int
	}{
		{"/gen", user, password, http.StatusOK},
		{"/gen/version", user, password, http.StatusOK},
		{"/conf", user, password, http.StatusForbidden},
		{"/gen", "", "", http.StatusUnauthorized},
		{"/gen", user, "wrong", http.StatusUnauthorized},
		{"/gen", "admin", "s3cret-pass", http.StatusUnauthorized},
	} {
		if code, body, _ := get(t, store+tc.path, tc.user, tc.password); code != tc.want {
			t.Errorf("GET %s as %q = %d %s, want %d", tc.path, tc.user, code, body, tc.want)
		}
	}
}
