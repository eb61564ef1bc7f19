package app

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const sampleApp = "single-cartridge-app"

// withMembers makes the sample application's cluster exactly n members (n > 0), as postSample's edit.
func withMembers(n int) func(file, body string) string {
	return func(_, body string) string {
		body = strings.Replace(body, `"cartridgeMin": 1,`, `"cartridgeMin": `+strconv.Itoa(n)+`,`, 1)
		return strings.Replace(body, `"cartridgeMax": 5,`, `"cartridgeMax": `+strconv.Itoa(n)+`,`, 1)
	}
}

// clusterInstancesActive reports whether the controller has cluster instances and all are Active.
func clusterInstancesActive(s *started) bool {
	top := s.app.Controller().Topology()
	n := 0
	for _, svc := range top.ServiceMap {
		for _, c := range svc.ClusterIDClusterMap {
			for _, ci := range c.InstanceIDToInstanceContextMap {
				if ci.Status() != model.ClusterActive {
					return false
				}
				n++
			}
		}
	}
	return n > 0
}

// applicationStatus is the application's definition status over REST.
func applicationStatus(t *testing.T, client *http.Client, api string) string {
	t.Helper()
	_, body := call(t, client, http.MethodGet, api+"/applications/"+sampleApp, "")
	var a struct{ Status string }
	_ = json.Unmarshal([]byte(body), &a)
	return a.Status
}

// runtimeStatus is the status of the application's runtime view.
func runtimeStatus(t *testing.T, client *http.Client, api string) string {
	t.Helper()
	_, body := call(t, client, http.MethodGet, api+"/applications/"+sampleApp+"/runtime", "")
	var rt struct{ Status string }
	_ = json.Unmarshal([]byte(body), &rt)
	return rt.Status
}

// runtimePage is what the tests read of a page of the runtime view.
type runtimePage struct {
	Next                 string
	ApplicationInstances []struct {
		ClusterInstances []struct {
			MemberCounts map[string]int
			Member       []struct{ MemberID string }
		}
	}
}

func (p runtimePage) members() (ids []string, counts map[string]int) {
	counts = map[string]int{}
	for _, ai := range p.ApplicationInstances {
		for _, ci := range ai.ClusterInstances {
			for _, m := range ci.Member {
				ids = append(ids, m.MemberID)
			}
			for st, k := range ci.MemberCounts {
				counts[st] += k
			}
		}
	}
	return ids, counts
}

// checkRuntimePages reads the runtime view of n Active members in pages of 5 (?limit=&after=):
// each page lists at most 5 members in id order and every instance's counts, the pages together
// list every member once, ?limit=0 gives only the counts, and without limit every member is
// listed (Stratos' shape).
func checkRuntimePages(t *testing.T, client *http.Client, api string, n int) {
	t.Helper()
	get := func(query string) runtimePage {
		t.Helper()
		code, body := call(t, client, http.MethodGet, api+"/applications/"+sampleApp+"/runtime"+query, "")
		var p runtimePage
		if err := json.Unmarshal([]byte(body), &p); code != http.StatusOK || err != nil {
			t.Fatalf("GET runtime%s = %d %s", query, code, body)
		}
		return p
	}
	var all []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatalf("more than %d pages", n)
		}
		p := get("?limit=5&after=" + after)
		ids, counts := p.members()
		if len(ids) > 5 || counts["Active"] != n {
			t.Errorf("page after %q: %d members, counts %v; want at most 5 and Active=%d", after, len(ids), counts, n)
		}
		all = append(all, ids...)
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	if len(all) != n || !slices.IsSorted(all) || len(slices.Compact(slices.Clone(all))) != n {
		t.Errorf("the pages listed %d members %v, want the %d members once each in id order", len(all), all, n)
	}
	if ids, counts := get("?limit=0").members(); len(ids) != 0 || counts["Active"] != n {
		t.Errorf("?limit=0: %d members, counts %v; want none and Active=%d", len(ids), counts, n)
	}
	if ids, _ := get("").members(); len(ids) != n {
		t.Errorf("without limit: %d members, want all %d", len(ids), n)
	}
	if code, _ := call(t, client, http.MethodGet, api+"/applications/"+sampleApp+"/runtime?limit=x", ""); code != http.StatusBadRequest {
		t.Errorf("?limit=x = %d, want 400", code)
	}
}

// connectWatcher connects a bus client of the test's own to the platform's broker, with the
// platform's internal credential (anonymous clients are refused), and waits until it is
// connected; it stops at the test's end.
func connectWatcher(t *testing.T, s *started, clientID string) (*bus.Client, context.Context) {
	t.Helper()
	user, password := s.app.BusCredential()
	connected := make(chan struct{})
	var once sync.Once
	c, err := bus.New(bus.Options{URLs: s.app.Addrs().Brokers, ClientID: clientID, Username: user, Password: password,
		Logger: testenv.Logger(t, 0), OnState: func(st bus.State) {
			if st == bus.Connected {
				once.Do(func() { close(connected) })
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-connected:
	case <-time.After(20 * time.Second):
		t.Fatalf("the bus watcher %s did not connect", clientID)
	}
	return c, ctx
}

// busWatcher records the classes of the events on the platform's bus, from a client of its own.
type busWatcher struct {
	mu      sync.Mutex
	classes []string
}

func watchBus(t *testing.T, s *started, filters ...string) *busWatcher {
	t.Helper()
	w := &busWatcher{}
	c, ctx := connectWatcher(t, s, "undeploy-watch")
	for _, f := range filters {
		if err := c.SubscribeEvents(ctx, f, func(_ string, e model.Event) {
			class := e.EventClass()
			// The periodic complete-state events come whenever their ticker fires.
			if strings.Contains(class, ".Complete") {
				return
			}
			w.mu.Lock()
			w.classes = append(w.classes, class)
			w.mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w *busWatcher) seen() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.classes...)
}

// TestUndeployEventSequence: the undeploy of the Stratos sample puts Stratos' sequence on the
// bus: the automatic sign-up removed first, the application instance and then the cluster
// instance Terminating, one cleanup request for the cluster instance, the member's cleanup
// flow, the cluster instance Terminated, the clusters removed and the application instance
// Terminated and the application deleted (undeployed). The sequence is testdata's golden file
// (-update rewrites it).
func TestUndeployEventSequence(t *testing.T) {
	t.Parallel()
	s := start(t, testOptions(t))
	client := &http.Client{Timeout: 10 * time.Second}
	api := postSample(t, s, client, nil)
	testenv.Eventually(t, 60*time.Second, "the sample's member and cluster instance to go Active", func() bool {
		return len(activeMembers(s, "")) == 1 && clusterInstancesActive(s)
	})
	// The runtime view's status is the application instance's, as Stratos returns it: Active
	// once the autoscaler's monitor tree has the cluster instance's activation from the
	// topology, one bus hop after the controller's topology shows it.
	testenv.Eventually(t, 10*time.Second, "the runtime status Active", func() bool { return runtimeStatus(t, client, api) == "Active" })
	w := watchBus(t, s, "topology/#", "instance/#", "application/#", "cluster/status/#")
	if code, body := call(t, client, http.MethodPost, api+"/applications/"+sampleApp+"/undeploy", ""); code != http.StatusAccepted {
		t.Fatalf("undeploy = %d %s, want 202", code, body)
	}
	testenv.Eventually(t, 30*time.Second, "ApplicationDeletedEvent on the bus", func() bool {
		seen := w.seen()
		return len(seen) > 0 && seen[len(seen)-1] == "application.ApplicationDeletedEvent"
	})
	got := strings.Join(w.seen(), "\n") + "\n"
	golden := filepath.Join("testdata", "undeploy-events.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("events of the undeploy (-%s +got):\n%s", golden, d)
	}
	testenv.Eventually(t, 10*time.Second, "the application back to Created", func() bool {
		return applicationStatus(t, client, api) == "Created"
	})
}

// TestShutdownDuringUndeployResumes: a platform stopped while an undeploy waits for members
// that do not answer returns within 10 s; started again on the same data dir, it finishes the
// undeploy (no member left) and starts no member for the application meanwhile.
func TestShutdownDuringUndeployResumes(t *testing.T) {
	t.Parallel()
	const n = 12
	o := testOptions(t)
	o.GracefulTimeout = 5 * time.Second
	o.CleanupInterval = time.Second
	s := start(t, o)
	client := &http.Client{Timeout: 10 * time.Second}
	api := postSample(t, s, client, withMembers(n))
	testenv.Eventually(t, 90*time.Second, "the sample's members to go Active", func() bool { return len(activeMembers(s, "")) == n })
	checkRuntimePages(t, client, api, n)
	// The members' agents stop answering: the undeploy waits for their graceful timeout.
	for _, m := range s.app.Controller().Members("") {
		if err := s.app.Mock().Kill(m.MemberID); err != nil {
			t.Fatal(err)
		}
	}
	w := watchBus(t, s, "instance/notifier/#")
	if code, body := call(t, client, http.MethodPost, api+"/applications/"+sampleApp+"/undeploy", ""); code != http.StatusAccepted {
		t.Fatalf("undeploy = %d %s, want 202", code, body)
	}
	if got := runtimeStatus(t, client, api); got != "Terminating" {
		t.Errorf("runtime status while undeploying = %q, want Terminating", got)
	}
	// Stop once every member has been asked to clean up: the undeploy waits for them.
	testenv.Eventually(t, 30*time.Second, "the members asked to clean up", func() bool {
		cluster, member := 0, 0
		for _, c := range w.seen() {
			switch c {
			case "instance.notifier.InstanceCleanupClusterEvent":
				cluster++
			case "instance.notifier.InstanceCleanupMemberEvent":
				member++
			}
		}
		return cluster > 0 || member >= n
	})
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err
		if err != nil {
			t.Errorf("Run = %v after its context ended during an undeploy, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of its context ending during an undeploy")
	}

	o.API, o.MQTTListen = "127.0.0.1:0", "127.0.0.1:0"
	s2 := start(t, o)
	api = "http://" + s2.app.Addrs().API.String() + "/api"
	testenv.Eventually(t, 60*time.Second, "the resumed undeploy to finish", func() bool {
		return applicationStatus(t, client, api) == "Created"
	})
	if st := s2.app.Controller().Stats(); st.Members != 0 || st.Starts != 0 {
		t.Errorf("after the resumed undeploy: %d members, %d started since the restart; want none", st.Members, st.Starts)
	}
}
