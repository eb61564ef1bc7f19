package model

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzUnmarshal feeds topics and bodies to Unmarshal; it must never panic, and whatever it accepts
// must marshal again.
func FuzzUnmarshal(f *testing.F) {
	for _, e := range sampleEvents() {
		if b, err := os.ReadFile(eventGolden(e.EventClass())); err == nil {
			f.Add(TopicOf(e), b)
		}
	}
	for _, s := range sampleSummaries() {
		if b, err := os.ReadFile(summaryGolden(s.Kind)); err == nil {
			f.Add(SummaryTopic, b)
		}
	}
	f.Add("instance/status/InstanceStartedEvent", []byte("{\n    \"clusterId\": null,\n    \"instanceId\": \"1\"\n}"))
	f.Add("health/stat/MemberFaultEvent", []byte(`{"value":"NaN"}`))
	f.Add("initializer/CompleteTopologyRequestEvent", []byte(``))
	f.Add("nothing", []byte(`{}`))
	f.Fuzz(func(t *testing.T, topic string, body []byte) {
		var fast Summary
		if decodeSummaryFast(body, &fast) {
			slow, err := slowSummary(body)
			if err != nil {
				t.Fatalf("fast path accepted what the general path refuses (%v): %q", err, body)
			}
			if diff := cmp.Diff(slow, &fast, cmpopts.EquateNaNs()); diff != "" {
				t.Fatalf("fast and general paths disagree on %q (-general +fast):\n%s", body, diff)
			}
		}
		e, err := Unmarshal(topic, body)
		if err != nil {
			return
		}
		if e == nil {
			t.Fatal("Unmarshal returned neither an event nor an error")
		}
		if _, ok := e.(*Summary); ok {
			if _, err := Marshal(e); err != nil {
				t.Fatalf("decoded summary does not marshal: %v", err)
			}
			return
		}
		if _, err := Marshal(e); err != nil {
			t.Fatalf("decoded %T does not marshal: %v", e, err)
		}
	})
}

// FuzzParsePayload feeds launch-params text to ParsePayload; it must never panic, and whatever it
// accepts must write back to the same pairs.
func FuzzParsePayload(f *testing.F) {
	f.Add(sampleLaunchParams)
	f.Add(sampleLaunchParams + "\n")
	f.Add("A=1,TOKEN=abc=def")
	f.Add("A=1\nB=2")
	f.Add(",=,")
	if names, err := filepath.Glob(filepath.Join("testdata", "payload", "*")); err == nil {
		for _, n := range names {
			if b, err := os.ReadFile(n); err == nil {
				f.Add(string(b))
			}
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := ParsePayload(strings.NewReader(in))
		if err != nil {
			return
		}
		var b strings.Builder
		if _, err := p.WriteTo(&b); err != nil {
			t.Fatalf("accepted payload does not write: %v (%q)", err, in)
		}
		again, err := ParsePayload(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("written payload %q does not parse: %v", b.String(), err)
		}
		if again.String() != p.String() {
			t.Fatalf("round trip changed %q into %q", p.String(), again.String())
		}
	})
}
