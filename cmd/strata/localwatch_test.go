package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/model"
)

// busEvent is one lifecycle event of a member as the test saw it on the bus.
type busEvent struct {
	name string // the topic's last segment, e.g. MemberTerminatedEvent
	at   time.Time
}

// busLog records the events of every member on topology/# and instance/#, in arrival order.
type busLog struct {
	mu     sync.Mutex
	member map[string][]busEvent
}

func watchBus(t *testing.T, mqtt string) *busLog {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &busLog{member: map[string][]busEvent{}}
	c, err := bus.New(bus.Options{URLs: []string{"tcp://" + mqtt}, ClientID: "local-test-watch"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	handler := func(topic string, payload []byte) {
		var m struct {
			MemberID string `json:"memberId"`
		}
		if json.Unmarshal(payload, &m) != nil || m.MemberID == "" {
			return
		}
		now := time.Now()
		l.mu.Lock()
		l.member[m.MemberID] = append(l.member[m.MemberID], busEvent{topic[strings.LastIndexByte(topic, '/')+1:], now})
		l.mu.Unlock()
	}
	for _, f := range []string{"topology/#", "instance/#"} {
		if err := c.Subscribe(ctx, f, handler); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// first is when the member's first event of that name arrived (zero: not yet).
func (l *busLog) first(member, name string) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.member[member] {
		if e.name == name {
			return e.at
		}
	}
	return time.Time{}
}

// sequence is the member's events in arrival order, each name once (its first arrival).
func (l *busLog) sequence(member string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.member[member] {
		if !slices.Contains(out, e.name) {
			out = append(out, e.name)
		}
	}
	return out
}

// runtimeMembers maps member id to status from an application's runtime view.
func runtimeMembers(t *testing.T, api, app string) map[string]string {
	t.Helper()
	code, body, _ := call(t, http.MethodGet, api+"/api/applications/"+app+"/runtime", "")
	out := map[string]string{}
	if code != http.StatusOK {
		return out
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if id, ok := v["memberId"].(string); ok {
				s, _ := v["status"].(string)
				out[id] = s
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	var doc any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("runtime view is not JSON: %v: %s", err, body)
	}
	walk(doc)
	return out
}

func activeMembers(ms map[string]string) []string {
	var out []string
	for id, s := range ms {
		if s == string(model.MemberActive) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
