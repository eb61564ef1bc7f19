package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// The Stratos-IT harness runs Stratos' integration-test scenarios (testdata/stratos-it, see its
// README) against a platform in process with the mock driver: the scenario's files are posted
// unchanged over REST in the test's order, and the waits and checks have the semantics of the
// scenario README (Add, Get, Del, refused, Deploy, Undeploy, Active wait, group check, cluster
// check, the bus).

// itRun is one scenario against a running platform.
type itRun struct {
	t      *testing.T
	s      *started
	client *http.Client
	api    string // http://host:port/api
	dir    string // testdata/stratos-it/<scenario>
	bus    *itBus
}

// newIT starts a platform of o for the scenario in testdata/stratos-it/<scenario> with a bus
// watcher on the application and topology topics.
func newIT(t *testing.T, scenario string, o Options) *itRun {
	t.Helper()
	s := start(t, o)
	client, scheme := &http.Client{Timeout: 30 * time.Second}, "http://"
	if o.APITLS != nil {
		// Trust the API's own certificate, as a client given its CA would.
		roots := x509.NewCertPool()
		for _, c := range o.APITLS.Certificates {
			leaf, err := x509.ParseCertificate(c.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			roots.AddCert(leaf)
		}
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
		scheme = "https://"
	}
	return &itRun{
		t:      t,
		s:      s,
		client: client,
		api:    scheme + s.app.Addrs().API.String() + "/api",
		dir:    filepath.Join("testdata", "stratos-it", scenario),
		bus:    watchIT(t, s),
	}
}

// file reads a resource file of the scenario, named relative to its folder.
func (r *itRun) file(rel string) string {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, rel))
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

// call sends a request as the admin to the API; path is relative to /api.
func (r *itRun) call(method, path, body string) (int, string) {
	r.t.Helper()
	return call(r.t, r.client, method, r.api+path, body)
}

func ok2xx(code int) bool { return code >= 200 && code < 300 }

// add posts a resource file to a collection (autoscalingPolicies, cartridges, ...) and expects 2xx.
func (r *itRun) add(coll, rel string) {
	r.t.Helper()
	if code, body := r.call(http.MethodPost, "/"+coll, r.file(rel)); !ok2xx(code) {
		r.t.Fatalf("Add %s %s = %d %s, want 2xx", coll, rel, code, body)
	}
}

// get reads a resource of a collection; found is false on 404 and the test fails on any other
// non-2xx answer.
func (r *itRun) get(coll, id string) (body string, found bool) {
	r.t.Helper()
	code, body := r.call(http.MethodGet, "/"+coll+"/"+id, "")
	switch {
	case ok2xx(code):
		return body, true
	case code == http.StatusNotFound:
		return body, false
	}
	r.t.Fatalf("Get %s/%s = %d %s, want 2xx or 404", coll, id, code, body)
	return "", false
}

// getJSON reads a resource that must exist and decodes it into v.
func (r *itRun) getJSON(coll, id string, v any) {
	r.t.Helper()
	body, found := r.get(coll, id)
	if !found {
		r.t.Fatalf("Get %s/%s: 404, want it to exist", coll, id)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		r.t.Fatalf("Get %s/%s: %v in %s", coll, id, err, body)
	}
}

// absent checks that Get of a resource answers 404.
func (r *itRun) absent(coll, id string) {
	r.t.Helper()
	if body, found := r.get(coll, id); found {
		r.t.Errorf("Get %s/%s found %s, want 404", coll, id, body)
	}
}

// del removes a resource and expects 2xx.
func (r *itRun) del(coll, id string) {
	r.t.Helper()
	if code, body := r.call(http.MethodDelete, "/"+coll+"/"+id, ""); !ok2xx(code) {
		r.t.Errorf("Del %s/%s = %d %s, want 2xx", coll, id, code, body)
	}
}

// refused checks that removing a resource is refused (any non-2xx) and that it still exists.
func (r *itRun) refused(coll, id string) {
	r.t.Helper()
	if code, body := r.call(http.MethodDelete, "/"+coll+"/"+id, ""); ok2xx(code) {
		r.t.Errorf("Del %s/%s = %d %s, want it refused", coll, id, code, body)
	}
	if _, found := r.get(coll, id); !found {
		r.t.Errorf("%s/%s is gone after a refused removal", coll, id)
	}
}

// deploy deploys an application with an application policy and expects 2xx.
func (r *itRun) deploy(app, policy string) {
	r.t.Helper()
	if code, body := r.call(http.MethodPost, "/applications/"+app+"/deploy/"+policy, ""); !ok2xx(code) {
		r.t.Fatalf("Deploy %s with %s = %d %s, want 2xx", app, policy, code, body)
	}
}

// undeploy undeploys an application and waits up to 30 s (2 s polls) until it has no instances
// and its status is Created; otherwise it undeploys with force=true and the same wait must pass.
func (r *itRun) undeploy(app string) {
	r.t.Helper()
	if code, body := r.call(http.MethodPost, "/applications/"+app+"/undeploy", ""); !ok2xx(code) {
		r.t.Fatalf("Undeploy %s = %d %s, want 2xx", app, code, body)
	}
	if r.poll(30*time.Second, 2*time.Second, func() bool { return r.undeployed(app) }) {
		return
	}
	r.t.Logf("%s was not undeployed within 30s: undeploying with force", app)
	if code, body := r.call(http.MethodPost, "/applications/"+app+"/undeploy?force=true", ""); !ok2xx(code) {
		r.t.Fatalf("Undeploy %s with force = %d %s, want 2xx", app, code, body)
	}
	if !r.poll(30*time.Second, 2*time.Second, func() bool { return r.undeployed(app) }) {
		r.t.Fatalf("%s was not undeployed within 30s of the forced undeploy", app)
	}
}

// undeployed reports whether an application has no instances left, on the applications topic
// (as the scenario README says) and in the topology, and its status is Created.
func (r *itRun) undeployed(app string) bool {
	if len(r.bus.application(r.t, app).InstanceIDToInstanceContextMap) > 0 {
		return false
	}
	for _, svc := range r.s.app.Controller().Topology().ServiceMap {
		for _, c := range svc.ClusterIDClusterMap {
			if c.AppID == app && len(c.InstanceIDToInstanceContextMap) > 0 {
				return false
			}
		}
	}
	var a struct{ Status string }
	r.getJSON("applications", app, &a)
	return a.Status == "Created"
}

// poll calls cond every interval (the scenario README's polls) until it holds or timeout passes;
// it reports whether it held.
func (r *itRun) poll(timeout, interval time.Duration, cond func() bool) bool {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	deadline := time.After(timeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			return cond()
		}
	}
	return true
}

// activeWait waits up to 300 s (the README's Active wait) for ApplicationInstanceActivatedEvent of
// the application on the applications topic.
func (r *itRun) activeWait(app string) {
	r.t.Helper()
	r.bus.await(r.t, 300*time.Second, "ApplicationInstanceActivatedEvent", func(e itEvent) bool { return e.Field("appId") == app })
}

// itComponents is the part of an application definition the checks read, at any depth.
type itComponents struct {
	Cartridges []struct {
		Type             string
		CartridgeMin     model.Int
		CartridgeMax     model.Int
		SubscribableInfo struct{ Alias string }
	}
	Groups []itGroup
}

type itGroup struct {
	Name              string
	Alias             string
	GroupMinInstances model.Int
	GroupMaxInstances model.Int
	itComponents
}

// definition reads an application's definition over REST.
func (r *itRun) definition(app string) itComponents {
	r.t.Helper()
	var a struct{ Components itComponents }
	r.getJSON("applications", app, &a)
	return a.Components
}

// clusterProblem is what the cluster check finds wrong ("" when it holds): in each cluster of the
// application, every cluster instance must have at least cartridgeMin Active members.
func (r *itRun) clusterProblem(app string) string {
	top := r.s.app.Controller().Topology()
	clusters := map[string]*model.Cluster{}
	for _, svc := range top.ServiceMap {
		for id, c := range svc.ClusterIDClusterMap {
			clusters[id] = c
		}
	}
	var problems []string
	var walk func(c itComponents)
	walk = func(c itComponents) {
		for _, ct := range c.Cartridges {
			id := model.ClusterID(app, ct.SubscribableInfo.Alias, ct.Type)
			cl := clusters[id]
			if cl == nil || len(cl.InstanceIDToInstanceContextMap) == 0 {
				problems = append(problems, id+" has no cluster instance")
				continue
			}
			for inst := range cl.InstanceIDToInstanceContextMap {
				n := 0
				for _, m := range cl.MemberMap {
					if m.ClusterInstanceID == inst && m.Status() == model.MemberActive {
						n++
					}
				}
				if n < int(ct.CartridgeMin) {
					problems = append(problems, fmt.Sprintf("%s instance %s has %d Active members, want %d", id, inst, n, ct.CartridgeMin))
				}
			}
		}
		for _, g := range c.Groups {
			walk(g.itComponents)
		}
	}
	walk(r.definition(app))
	return strings.Join(problems, "; ")
}

// clusterCheck checks (no wait) that every cluster instance of the application has at least
// cartridgeMin Active members.
func (r *itRun) clusterCheck(app string) {
	r.t.Helper()
	if p := r.clusterProblem(app); p != "" {
		r.t.Errorf("cluster check of %s: %s", app, p)
	}
}

// groupCheck checks (no wait) that every group of the application, at any depth, has at least
// groupMinInstances instances in the application as the applications topic last described it.
func (r *itRun) groupCheck(app string) {
	r.t.Helper()
	a := r.bus.application(r.t, app)
	var walk func(groups map[string]*model.Group)
	walk = func(groups map[string]*model.Group) {
		for alias, g := range groups {
			if n := len(g.InstanceIDToInstanceContextMap); n < int(g.GroupMinInstances) {
				r.t.Errorf("group check of %s: group %s has %d instances, want at least %d", app, alias, n, g.GroupMinInstances)
			}
			walk(g.AliasToGroupMap)
		}
	}
	walk(a.AliasToGroupMap)
}

// itEvent is one message the watcher received.
type itEvent struct {
	Seq   int       // arrival order
	At    time.Time // arrival time
	Topic string
	Body  []byte
}

// Class is the event's class name, the last element of its topic ("MemberActivatedEvent").
func (e itEvent) Class() string { return e.Topic[strings.LastIndexByte(e.Topic, '/')+1:] }

// Field reads a top-level string field of the event's JSON ("" when absent).
func (e itEvent) Field(name string) string {
	var m map[string]any
	_ = json.Unmarshal(e.Body, &m)
	s, _ := m[name].(string)
	return s
}

// itBus records every message on the application and topology topics, as Stratos' test harness
// watches them, from a client that logs in with the platform's own credential.
type itBus struct {
	client *bus.Client
	ctx    context.Context
	mu     sync.Mutex
	events []itEvent
}

func watchIT(t *testing.T, s *started) *itBus {
	t.Helper()
	c, ctx := connectWatcher(t, s, "stratos-it-watch")
	w := &itBus{client: c, ctx: ctx}
	for _, f := range []string{"application/#", "topology/#", "tenant/#", "applicationsignup/#"} {
		if err := c.Subscribe(ctx, f, func(topic string, payload []byte) {
			w.mu.Lock()
			w.events = append(w.events, itEvent{Seq: len(w.events), At: time.Now(), Topic: topic, Body: payload})
			w.mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// all returns the events recorded so far whose topic ends in "/"+class (every event for "").
func (w *itBus) all(class string) []itEvent {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []itEvent
	for _, e := range w.events {
		if class == "" || e.Class() == class {
			out = append(out, e)
		}
	}
	return out
}

// await waits up to timeout for an event of class that match accepts (nil: any) and returns the
// first such event.
func (w *itBus) await(t *testing.T, timeout time.Duration, class string, match func(itEvent) bool) itEvent {
	t.Helper()
	var found itEvent
	testenv.Eventually(t, timeout, "a "+class+" on the bus", func() bool {
		for _, e := range w.all(class) {
			if match == nil || match(e) {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// complete posts the initializer's request for each complete-state class given
// ("CompleteTopologyEvent", ...) and waits up to 20 s for each answer, as Stratos' harness does
// before anything else; it returns the last answer of each.
func (w *itBus) complete(t *testing.T, classes ...string) map[string]itEvent {
	t.Helper()
	out := map[string]itEvent{}
	for _, class := range classes {
		after := len(w.all(""))
		req := "initializer/" + strings.TrimSuffix(class, "Event") + "RequestEvent"
		if err := w.client.Publish(w.ctx, req, []byte("{}"), 1); err != nil {
			t.Fatalf("publish %s: %v", req, err)
		}
		out[class] = w.await(t, 20*time.Second, class, func(e itEvent) bool { return e.Seq >= after })
	}
	return out
}

// application is the application as the last CompleteApplicationsEvent describes it, asked for
// afresh.
func (w *itBus) application(t *testing.T, app string) *model.Application {
	t.Helper()
	e := w.complete(t, "CompleteApplicationsEvent")["CompleteApplicationsEvent"]
	var c model.CompleteApplicationsEvent
	if err := json.Unmarshal(e.Body, &c); err != nil {
		t.Fatalf("CompleteApplicationsEvent: %v in %s", err, e.Body)
	}
	if c.Applications == nil || c.Applications.ApplicationMap[app] == nil {
		t.Fatalf("the CompleteApplicationsEvent lacks %s", app)
	}
	return c.Applications.ApplicationMap[app]
}
