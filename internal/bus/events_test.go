package bus

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/internal/testenv"
)

// sampleEvents returns one event per registered class: decoded from the model package's golden
// file for that class when there is one (realistic, fully populated events), else the zero event.
func sampleEvents(t *testing.T) map[string]model.Event {
	t.Helper()
	classes := model.Classes()
	slices.Sort(classes)
	if len(classes) == 0 {
		t.Fatal("no event classes registered")
	}
	out := make(map[string]model.Event, len(classes))
	zero := 0
	for _, class := range classes {
		e, ok := model.New(class)
		if !ok {
			t.Fatalf("model.New(%q) failed for a registered class", class)
		}
		for _, name := range []string{"events/" + class, "summary/" + strings.TrimPrefix(class, "health.stat.")} {
			body, err := os.ReadFile(filepath.Join("..", "model", "testdata", name+".json"))
			if err != nil {
				continue
			}
			d, err := model.Unmarshal(model.Topic(class), body)
			if err != nil {
				t.Fatalf("golden %s: %v", class, err)
			}
			e = d
			break
		}
		if v := reflect.ValueOf(e).Elem(); (v.IsZero() && v.NumField() > 0) || isZeroSummary(e) {
			zero++
		}
		out[class] = e
	}
	t.Logf("%d event classes, %d with fields but no golden sample (sent as the zero value)", len(classes), zero)
	return out
}

func isZeroSummary(e model.Event) bool {
	s, ok := e.(*model.Summary)
	return ok && *s == model.Summary{Kind: s.Kind}
}

// eventOpts compares decoded events: nil and empty maps and slices are the same on the wire.
var eventOpts = []cmp.Option{cmpopts.EquateEmpty(), cmp.Exporter(func(reflect.Type) bool { return true })}

// TestEventsEveryClass sends every registered event class both ways between two clients, across
// the embedded broker and a private Mosquitto, and checks that each arrives decoded equal.
func TestEventsEveryClass(t *testing.T) {
	samples := sampleEvents(t)
	for name, start := range map[string]func(t *testing.T) string{
		"embedded":  func(t *testing.T) string { return runBroker(t, BrokerOptions{}).URL() },
		"mosquitto": func(t *testing.T) string { return testenv.StartMosquitto(t).URL() }, // private: no other traffic
	} {
		t.Run(name, func(t *testing.T) {
			url := start(t)
			ctx := ctxT(t)
			a := runClient(t, Options{URLs: []string{url}})
			b := runClient(t, Options{URLs: []string{url}})
			type got struct {
				mu sync.Mutex
				m  map[string][]model.Event
				ch chan struct{}
			}
			subscribe := func(c *testClient) *got {
				g := &got{m: map[string][]model.Event{}, ch: make(chan struct{}, 4*len(samples))}
				for _, f := range []string{"topology/#", "instance/#", "application/#", "cluster/#", "tenant/#",
					"domain/#", "initializer/#", "health/#", "summarized-health-stats/#", "strata/#"} {
					err := c.SubscribeEvents(ctx, f, func(topic string, e model.Event) {
						g.mu.Lock()
						g.m[e.EventClass()] = append(g.m[e.EventClass()], e)
						g.mu.Unlock()
						g.ch <- struct{}{}
					})
					if err != nil {
						t.Fatal(err)
					}
				}
				return g
			}
			gotA, gotB := subscribe(a), subscribe(b)
			a.waitFor(t, Connected)
			b.waitFor(t, Connected)
			for _, e := range samples {
				if err := a.PublishEvent(ctx, e); err != nil {
					t.Fatal(err)
				}
				if err := b.PublishEvent(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			for _, g := range []*got{gotA, gotB} {
				for range 2 * len(samples) { // each client hears its own events too
					select {
					case <-g.ch:
					case <-ctx.Done():
						g.mu.Lock()
						t.Fatalf("got %d of %d events", len(g.m), len(samples))
					}
				}
			}
			for class, want := range samples {
				for who, g := range map[string]*got{"a": gotA, "b": gotB} {
					g.mu.Lock()
					es := g.m[class]
					g.mu.Unlock()
					if len(es) != 2 {
						t.Errorf("%s: client %s received it %d times, want 2 (its own and the other's)", class, who, len(es))
					}
					for _, e := range es {
						if diff := cmp.Diff(want, e, eventOpts...); diff != "" {
							t.Errorf("%s at %s (-sent +received):\n%s", class, who, diff)
						}
					}
				}
			}
			for who, c := range map[string]*testClient{"a": a, "b": b} {
				if st := c.Stats(); st.DecodeErrors != 0 {
					t.Errorf("client %s: %d decode errors", who, st.DecodeErrors)
				}
			}
		})
	}
}
