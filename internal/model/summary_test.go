package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func summaryGolden(k SummaryKind) string {
	return filepath.Join("testdata", "summary", k.String()+".json")
}

func TestSummaryGolden(t *testing.T) {
	for _, s := range sampleSummaries() {
		t.Run(s.Kind.String(), func(t *testing.T) {
			b, err := Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			bv, err := Marshal(*s) // a value marshals the same
			if err != nil || !bytes.Equal(b, bv) {
				t.Errorf("Marshal(value) = %s, %v; want %s", bv, err, b)
			}
			checkGolden(t, summaryGolden(s.Kind), b)

			got, err := Unmarshal(SummaryTopic, b)
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			want := *s
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			// Also under a sub-topic, as the Stratos fault handler publishes.
			if _, err := Unmarshal(SummaryTopic+"/#", b); err != nil {
				t.Errorf("Unmarshal on %s/#: %v", SummaryTopic, err)
			}
		})
	}
}

// splitLikeJava mimics HealthStatEventMessageDelegator#jsonToEventMessage: split on ':' into at
// most 3 pieces; piece 1 holds the class, piece 2 must be "message", piece 3 minus its last two
// '}' is the inner JSON.
func splitLikeJava(msg string) (class, inner string, ok bool) {
	parts := strings.SplitN(msg, ":", 3)
	if len(parts) != 3 {
		return "", "", false
	}
	class = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(parts[0]), "{"))
	class = strings.Trim(class, `"`)
	if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(parts[1]), "{")) != `"message"` {
		return "", "", false
	}
	inner = parts[2]
	for range 2 {
		i := strings.LastIndexByte(inner, '}')
		if i < 0 {
			return "", "", false
		}
		inner = inner[:i]
	}
	return class, inner, true
}

func TestSummaryEnvelopeJavaSplit(t *testing.T) {
	for _, s := range sampleSummaries() {
		b, err := Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		class, inner, ok := splitLikeJava(string(b))
		if !ok {
			t.Errorf("%s: the Java receiver cannot split %s", s.Kind, b)
			continue
		}
		if want := ClassPrefix + s.Kind.Class(); class != want {
			t.Errorf("%s: class piece %q, want %q", s.Kind, class, want)
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(inner), &fields); err != nil {
			t.Errorf("%s: inner piece %q is not JSON: %v", s.Kind, inner, err)
			continue
		}
		var keys []string
		dec := json.NewDecoder(strings.NewReader(inner))
		dec.Token()
		for dec.More() {
			tok, _ := dec.Token()
			keys = append(keys, tok.(string))
			var v any
			dec.Decode(&v)
			if _, isString := v.(string); !isString {
				t.Errorf("%s: value of %s is %T, want a JSON string", s.Kind, tok, v)
			}
		}
		if diff := cmp.Diff(SummaryKeys(s.Kind), keys); diff != "" {
			t.Errorf("%s: keys (-want +got):\n%s", s.Kind, diff)
		}
	}
}

func TestSummaryLenientDecode(t *testing.T) {
	tests := []struct {
		name  string
		topic string
		body  string
		want  *Summary
	}{
		{
			name:  "numbers",
			topic: SummaryTopic,
			body: `{"org.apache.stratos.messaging.event.health.stat.AverageRequestsInFlightEvent":{"message":
				{"clusterId":"c1","clusterInstanceId":"i1","networkPartitionId":"np","value":12.5,
				 "servedCount":"30","activeInstances":2,"timestamp":1422016262372}}}`,
			want: &Summary{Kind: AverageRequestsInFlight, ClusterID: "c1", ClusterInstanceID: "i1",
				NetworkPartitionID: "np", Value: 12.5, ServedCount: 30, ActiveInstances: 2, Timestamp: 1422016262372},
		},
		{
			name:  "relative class and pretty printing",
			topic: SummaryTopic,
			body: `{
  "health.stat.MemberFaultEvent": {
    "message": {"clusterId": "c1", "memberId": "m1", "partitionId": "p1", "value": null}
  }
}`,
			want: &Summary{Kind: MemberFault, ClusterID: "c1", MemberID: "m1", PartitionID: "p1"},
		},
		{
			name:  "class topic with bare fields",
			topic: "health/stat/GradientOfLoadAverageEvent",
			body:  `{"clusterId":"c1","value":"-0.5"}`,
			want:  &Summary{Kind: GradientOfLoadAverage, ClusterID: "c1", Value: -0.5},
		},
		{
			name:  "class topic with envelope",
			topic: "health/stat/GradientOfLoadAverageEvent",
			body:  `{"org.apache.stratos.messaging.event.health.stat.GradientOfLoadAverageEvent":{"message":{"value":"1"}}}`,
			want:  &Summary{Kind: GradientOfLoadAverage, Value: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Unmarshal(tt.topic, []byte(tt.body))
			if err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMarshalSummaryErrors(t *testing.T) {
	if _, err := Marshal(Summary{}); err == nil {
		t.Error("Marshal(Summary{}) succeeded, want an error for the missing kind")
	}
	if _, err := Marshal((*Summary)(nil)); err == nil {
		t.Error("Marshal(nil *Summary) succeeded")
	}
	if _, err := Marshal(nil); err == nil {
		t.Error("Marshal(nil) succeeded")
	}
}

func TestMarshalSummaryEscapesIDs(t *testing.T) {
	s := &Summary{Kind: GradientOfLoadAverage, ClusterID: `a"b\c`, Value: 1}
	b, err := Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(SummaryTopic, b)
	if err != nil {
		t.Fatalf("Unmarshal(%s): %v", b, err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestAppendSummaryAllocs(t *testing.T) {
	s := sampleSummaries()[0]
	buf := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() {
		var err error
		buf, err = AppendSummary(buf[:0], s)
		if err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("AppendSummary allocates %.1f times per call, want 0", allocs)
	}
}

// slowSummary decodes with the general path only.
func slowSummary(body []byte) (*Summary, error) {
	var s Summary
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(body, &outer); err != nil || len(outer) != 1 {
		return nil, errors.New("bad envelope")
	}
	for class, inner := range outer {
		kind, ok := SummaryKindOf(class)
		if !ok {
			return nil, ErrUnknownEvent
		}
		var wrap struct {
			Message *json.RawMessage `json:"message"`
		}
		if err := json.Unmarshal(inner, &wrap); err != nil || wrap.Message == nil {
			return nil, errors.New("bad wrap")
		}
		var m summaryMessage
		if err := json.Unmarshal(*wrap.Message, &m); err != nil {
			return nil, err
		}
		s.Kind = kind
		m.fill(&s)
	}
	return &s, nil
}

func TestSummaryFastPathAgreesWithGeneral(t *testing.T) {
	bodies := []string{
		`{"org.apache.stratos.messaging.event.health.stat.AverageLoadAverageEvent":{"message":{}}}`,
		` { "health.stat.MemberFaultEvent" : { "message" : { "memberId" : "m" , "value" : "NaN" } } } `,
		`{"org.apache.stratos.messaging.event.health.stat.AverageRequestsInFlightEvent":{"message":{"servedCount":"3","activeInstances":"2","value":"-1e3","timestamp":"99"}}}`,
	}
	for _, s := range sampleSummaries() {
		b, _ := Marshal(s)
		bodies = append(bodies, string(b))
	}
	for _, body := range bodies {
		var fast Summary
		if !decodeSummaryFast([]byte(body), &fast) {
			t.Errorf("fast path refused %s", body)
			continue
		}
		slow, err := slowSummary([]byte(body))
		if err != nil {
			t.Errorf("general path refused %s: %v", body, err)
			continue
		}
		if diff := cmp.Diff(slow, &fast, cmpopts.EquateNaNs()); diff != "" {
			t.Errorf("%s: (-general +fast):\n%s", body, diff)
		}
	}
	// Shapes the fast path leaves to the general one.
	for _, body := range []string{
		`{"health.stat.MemberFaultEvent":{"message":{"value":1}}}`,
		`{"health.stat.MemberFaultEvent":{"message":{"memberId":null}}}`,
		`{"health.stat.MemberFaultEvent":{"message":{"memberId":"a\"b"}}}`,
		`{"health.stat.MemberFaultEvent":{"message":{"MemberID":"m"}}}`,
		`{"health.stat.MemberFaultEvent":{"message":{}},"x":1}`,
		`{"health.stat.MemberFaultEvent":{"message":{},"x":1}}`,
		`{"health.stat.MemberFaultEvent":{"message":{}}}x`,
		`{"health.stat.Nope":{"message":{}}}`,
	} {
		var s Summary
		if decodeSummaryFast([]byte(body), &s) {
			t.Errorf("fast path accepted %s", body)
		}
	}
}
