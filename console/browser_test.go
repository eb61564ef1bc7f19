package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/strata-paas/strata/autoscaler"
	"github.com/strata-paas/strata/controller/mock"
	"github.com/strata-paas/strata/internal/app"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// adminClusterID is the cluster of the admin's application.
const adminClusterID = "single-cartridge-app.my-php.php.domain"

// tenantClusterID is the cluster of the tenant's application.
const tenantClusterID = "acme-app.my-php.php.domain"

// startPlatform runs the whole platform in process on free ports, with mock members whose load
// steps above the sample policy's thresholds (70) after 10 s, and returns its API's base URL.
func startPlatform(t *testing.T) *app.App {
	t.Helper()
	a, err := app.New(app.Options{
		DataDir:         t.TempDir(),
		API:             "127.0.0.1:0",
		MQTTListen:      "127.0.0.1:0",
		AdminPassword:   adminPassword,
		CEP:             app.CEPOptions{Thrift: "127.0.0.1:0", ThriftTLS: "127.0.0.1:0", Window: time.Second, StartupGrace: -1},
		MockInterval:    250 * time.Millisecond,
		MonitorInterval: time.Second,
		MockPatterns: map[string][]mock.Pattern{"php": {
			{Factor: mock.MemoryConsumption, Values: []float64{20, 95}, Duration: 10 * time.Second, Mode: mock.Continue},
			{Factor: mock.LoadAverage, Values: []float64{20, 95}, Duration: 10 * time.Second, Mode: mock.Continue},
		}},
		Logger: testenv.Logger(t, slog.LevelWarn),
		Stdout: io.Discard,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the platform's Run = %v", err)
		}
	})
	select {
	case <-a.Ready():
	case err := <-done:
		done <- err
		t.Fatalf("the platform stopped before it was ready: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the platform was not ready within 60s")
	}
	return a
}

// activations records when each MemberActivatedEvent arrived on the bus.
type activations struct {
	mu    sync.Mutex
	at    map[string]time.Time
	order []string
}

func watchActivations(t *testing.T, a *app.App) *activations {
	t.Helper()
	user, password := a.BusCredential()
	c, err := bus.New(bus.Options{URLs: a.Addrs().Brokers, Username: user, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	acts := &activations{at: map[string]time.Time{}}
	err = c.Subscribe(ctx, model.TopicOf(model.MemberActivatedEvent{}), func(_ string, payload []byte) {
		now := time.Now()
		var e model.MemberActivatedEvent
		if json.Unmarshal(payload, &e) != nil {
			return
		}
		acts.mu.Lock()
		defer acts.mu.Unlock()
		if _, seen := acts.at[e.MemberID]; !seen {
			acts.at[e.MemberID] = now
			acts.order = append(acts.order, e.MemberID)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return acts
}

func (a *activations) list() ([]string, map[string]time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	at := make(map[string]time.Time, len(a.at))
	for k, v := range a.at {
		at[k] = v
	}
	return append([]string(nil), a.order...), at
}

// artifactDir is where the screenshots go: $TEST_ARTIFACTS/<test> when set, else a temporary
// directory of the test.
func artifactDir(t *testing.T) string {
	if d := os.Getenv("TEST_ARTIFACTS"); d != "" {
		dir := filepath.Join(d, t.Name())
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	return t.TempDir()
}

// TestBrowser drives headless Chromium through the console of a running platform: log in, find
// the application and its members, watch a scale-out appear without a reload within 5 s of its
// MemberActivatedEvent, find a decision mark on the cluster's charts, open that decision and find
// the trace `strata explain` prints; then a tenant's browser sees only its application, and a
// user without the role gets no action buttons.
func TestBrowser(t *testing.T) {
	t.Parallel()
	chromium := testenv.Chromium(t)
	a := startPlatform(t)
	base := "http://" + a.Addrs().API.String()
	seed(t, base)
	acts := watchActivations(t, a)
	shots := artifactDir(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox,
		chromedp.WindowSize(1280, 900), chromedp.Flag("disable-gpu", true))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	// The first call starts the browser, and must not have a timeout.
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := context.WithTimeout(browser, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		return get(t, browser, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
	}
	shot := func(name string) {
		t.Helper()
		png := get(t, browser, "screenshot "+name, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	login := func(user, password string) {
		t.Helper()
		run("log in as "+user, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("login")),
			chromedp.SendKeys(chromedp.ID("user"), user), chromedp.SendKeys(chromedp.ID("password"), password),
			chromedp.Click(chromedp.ID("login")), chromedp.WaitVisible(chromedp.CSS("table.list")))
	}

	// Log in and deploy the application through the console (confirming on the second page).
	run("open the login page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("login")))
	shot("01-login")
	login("admin", adminPassword)
	apps := text("table.list")
	if !strings.Contains(apps, adminAppID) || !strings.Contains(apps, tenantAppID) {
		t.Fatalf("the admin's applications page: %q, want %s and %s", apps, adminAppID, tenantAppID)
	}
	shot("02-applications")
	run("deploy", chromedp.Click(chromedp.CSS(`a.app-link[href="/apps/`+adminAppID+`"]`)), chromedp.WaitVisible(chromedp.ID("deploy")),
		chromedp.Click(chromedp.ID("deploy")), chromedp.WaitVisible(chromedp.ID("confirm")),
		chromedp.Click(chromedp.ID("confirm")), chromedp.WaitVisible(chromedp.ID("tree")))
	get(t, browser, "mark the page", chromedp.Evaluate[bool](`window.strataNoReload = true`))

	// The members appear, and each scale-out's member shows Active within 5 s of its event.
	members := func() map[string]string {
		rows := get(t, browser, "read the members", chromedp.Evaluate[[]string](
			`Array.from(document.querySelectorAll("#tree li.member")).map(li => li.dataset.member + " " + li.querySelector(".state").textContent)`))
		out := map[string]string{}
		for _, r := range rows {
			if id, state, ok := strings.Cut(r, " "); ok {
				out[id] = state
			}
		}
		return out
	}
	// Poll the page (without reloading it) from now on, noting when each member first shows
	// Active, until a member beyond min has been activated and every activated member shows.
	seen := map[string]time.Time{}
	testenv.Eventually(t, 90*time.Second, "a scale-out beyond min 1, every activated member Active in the page", func() bool {
		now := time.Now()
		for id, state := range members() {
			if _, ok := seen[id]; !ok && state == "Active" {
				seen[id] = now
			}
		}
		order, _ := acts.list()
		if len(order) < 2 {
			return false
		}
		for _, id := range order {
			if _, ok := seen[id]; !ok {
				return false
			}
		}
		return true
	})
	order, at := acts.list()
	for _, id := range order {
		if d := seen[id].Sub(at[id]); d > 5*time.Second {
			t.Errorf("member %s showed Active %v after its MemberActivatedEvent, want within 5s", id, d)
		} else {
			t.Logf("member %s showed Active in the page %v after its MemberActivatedEvent", id, d.Round(time.Millisecond))
		}
	}
	if !get(t, browser, "check the mark", chromedp.Evaluate[bool](`window.strataNoReload === true`)) {
		t.Error("the page was reloaded: the members should appear live")
	}
	shot("03-scale-out")

	// On a phone's screen the tree fits the width: nothing scrolls sideways.
	run("phone screen", chromedp.EmulateViewport(390, 844), chromedp.WaitVisible(chromedp.ID("tree")))
	if w := get(t, browser, "measure the page", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 390 {
		t.Errorf("on a 390 px wide screen the application page is %d px wide", w)
	}
	shot("03-phone")
	run("laptop screen", chromedp.EmulateViewport(1280, 900))

	// The cluster page has a chart with a decision mark that links to the decision's trace.
	clusterPage := base + "/apps/" + adminAppID + "/clusters/" + adminClusterID
	var href string
	testenv.Eventually(t, 30*time.Second, "a decision mark on the cluster's charts", func() bool {
		run("open the cluster page", chromedp.Navigate(clusterPage), chromedp.WaitVisible(chromedp.CSS("svg.chart")))
		href = get(t, browser, "find a decision mark", chromedp.Evaluate[string](
			`(document.querySelector("svg.chart a.decision-mark") || {getAttribute: () => ""}).getAttribute("href")`))
		return href != ""
	})
	table := text("#members")
	if n := strings.Count(table, "Active"); n < 2 {
		t.Errorf("the cluster page lists %d Active members, want 2 or more:\n%s", n, table)
	}
	shot("04-cluster")
	run("open the decision", chromedp.Navigate(base+href), chromedp.WaitVisible(chromedp.CSS("details.decision[open] pre.trace")))
	id := get(t, browser, "read the decision's id", chromedp.AttributeValue(chromedp.CSS("details.decision[open]"), "data-decision")).Value
	trace := text("details.decision[open] pre.trace")
	shot("05-decision")
	want := explain(t, base, id)
	if strings.TrimSpace(trace) != strings.TrimSpace(want) {
		t.Errorf("the decision's trace in the page:\n%s\nwant what strata explain prints:\n%s", trace, want)
	}
	if !strings.Contains(trace, "  reason: ") {
		t.Errorf("the trace has no reason line:\n%s", trace)
	}

	// Raise the cluster's min and max above the sample's max (5) on the cluster page: the new
	// members appear, and the members already there stay (nothing restarted).
	memberRows := func() map[string]string {
		rows := get(t, browser, "read the member rows", chromedp.Evaluate[[]string](
			`Array.from(document.querySelectorAll("#members tr[data-member]")).map(tr => tr.dataset.member + " " + tr.querySelector(".state").textContent)`))
		out := map[string]string{}
		for _, r := range rows {
			if id, state, ok := strings.Cut(r, " "); ok {
				out[id] = state
			}
		}
		return out
	}
	run("open the cluster page", chromedp.Navigate(clusterPage), chromedp.WaitVisible(chromedp.ID("scale")))
	before := memberRows()
	const scaled = 7
	run("change min and max", chromedp.SetValue(chromedp.ID("min"), fmt.Sprint(scaled)), chromedp.SetValue(chromedp.ID("max"), fmt.Sprint(scaled)),
		chromedp.Click(chromedp.ID("scale")), chromedp.WaitVisible(chromedp.ID("confirm")))
	shot("08-confirm-scale")
	run("confirm the new min and max", chromedp.Click(chromedp.ID("confirm")), chromedp.WaitVisible(chromedp.ID("members")))
	var rows map[string]string
	testenv.Eventually(t, 90*time.Second, fmt.Sprintf("%d Active members on the cluster page", scaled), func() bool {
		run("reload the cluster page", chromedp.Navigate(clusterPage), chromedp.WaitVisible(chromedp.ID("members")))
		rows = memberRows()
		return strings.Count(fmt.Sprint(rows), "Active") == scaled
	})
	for id, state := range before {
		if state == "Active" && rows[id] != "Active" {
			t.Errorf("member %s was Active before the new min and is %q after it, want it kept", id, rows[id])
		}
	}
	if want := fmt.Sprintf("min %d, max %d", scaled, scaled); !strings.Contains(text("main"), want) {
		t.Errorf("the cluster page does not show %q", want)
	}
	shot("09-scaled")

	// Terminate one member: it goes, and the autoscaler starts another for min.
	victim := get(t, browser, "pick a member", chromedp.AttributeValue(chromedp.CSS("button.terminate"), "data-member")).Value
	run("terminate a member", chromedp.Click(chromedp.CSS(`button.terminate[data-member="`+victim+`"]`)), chromedp.WaitVisible(chromedp.ID("confirm")))
	shot("10-confirm-terminate")
	run("confirm the termination", chromedp.Click(chromedp.ID("confirm")), chromedp.WaitVisible(chromedp.ID("members")))
	testenv.Eventually(t, 90*time.Second, "the member gone and replaced", func() bool {
		run("reload the cluster page", chromedp.Navigate(clusterPage), chromedp.WaitVisible(chromedp.ID("members")))
		rows = memberRows()
		_, still := rows[victim]
		return !still && strings.Count(fmt.Sprint(rows), "Active") == scaled
	})
	shot("11-terminated")

	// A tenant's browser sees its application only.
	run("log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login")))
	login("alice@"+tenantDomain, alicePassword)
	apps = text("table.list")
	if !strings.Contains(apps, tenantAppID) || strings.Contains(apps, adminAppID) {
		t.Errorf("the tenant admin's applications page: %q, want %s only", apps, tenantAppID)
	}
	shot("06-tenant")
	run("open another tenant's application", chromedp.Navigate(base+"/apps/"+adminAppID))
	heading := text("h1")
	if !strings.Contains(heading, "404") {
		t.Errorf("another tenant's application page: %q, want 404", heading)
	}

	// A user without the role sees no action buttons.
	run("log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login")))
	login("bob@"+tenantDomain, bobPassword)
	run("open the tenant's application", chromedp.Navigate(base+"/apps/"+tenantAppID), chromedp.WaitVisible(chromedp.ID("tree")))
	if buttons := get(t, browser, "count the action buttons", chromedp.Evaluate[int](`document.querySelectorAll("button.action").length`)); buttons != 0 {
		t.Errorf("the user's application page has %d action buttons, want none", buttons)
	}
	if code, body := apiCall(t, base, "alice@"+tenantDomain, alicePassword, http.MethodPost, "/api/applications/"+tenantAppID+"/deploy/"+appPolicyID, ""); code != http.StatusAccepted {
		t.Fatalf("deploy the tenant's application = %d %s", code, body)
	}
	run("open the tenant's cluster page", chromedp.Navigate(base+"/apps/"+tenantAppID+"/clusters/"+tenantClusterID), chromedp.WaitVisible(chromedp.ID("members")))
	if buttons := get(t, browser, "count the action buttons", chromedp.Evaluate[int](`document.querySelectorAll("button.action").length`)); buttons != 0 {
		t.Errorf("the user's cluster page has %d action buttons, want none", buttons)
	}
	shot("07-user")
	t.Logf("screenshots in %s", shots)
}

// explain is what `strata explain` prints for the decision id: the decision from the API's
// history, rendered by autoscaler.RenderTrace.
func explain(t *testing.T, base, id string) string {
	t.Helper()
	q := url.Values{"cluster": {adminClusterID}, "from": {"-1h"}, "limit": {"1000"}}
	code, body := apiCall(t, base, "admin", adminPassword, http.MethodGet, "/api/history/decisions?"+q.Encode(), "")
	if code != http.StatusOK {
		t.Fatalf("GET decisions = %d %s", code, body)
	}
	var ds []model.Decision
	if err := json.Unmarshal([]byte(body), &ds); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if d.ID == id {
			var b bytes.Buffer
			if err := autoscaler.RenderTrace(&b, d); err != nil {
				t.Fatal(err)
			}
			return b.String()
		}
	}
	t.Fatalf("no decision %s in the API's history", id)
	return fmt.Sprint()
}

// get runs an action that returns a value in the browser, within 30 s.
func get[T any](t *testing.T, browser context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(browser, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}
