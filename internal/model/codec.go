package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// ErrUnknownEvent is wrapped by Unmarshal's error when the topic names no registered event class.
var ErrUnknownEvent = errors.New("model: unknown event")

// ErrBadEnvelope is wrapped by Unmarshal's error when a summarized-health-stats message is not in
// the §1.4 envelope.
var ErrBadEnvelope = errors.New("model: bad health stat envelope")

// Marshal encodes an event as it travels on the bus: the bare compact JSON of the event (§1.3),
// or, for a Summary or *Summary, the §1.4 envelope with string values and only the keys the
// Stratos CEP writes for that kind (§3.4), in its order.
func Marshal(e Event) ([]byte, error) {
	switch s := e.(type) {
	case nil:
		return nil, fmt.Errorf("marshal: %w: nil event", ErrUnknownEvent)
	case Summary:
		return AppendSummary(nil, &s)
	case *Summary:
		if s == nil {
			return nil, fmt.Errorf("marshal: %w: nil summary", ErrUnknownEvent)
		}
		return AppendSummary(nil, s)
	}
	var b []byte
	var err error
	if m, ok := e.(json.Marshaler); ok && !nilPointer(e) {
		// This package's MarshalJSON methods write with encoding/json: calling one directly skips
		// json.Marshal's second pass over its output (validating and compacting it), 60 % of
		// encoding a member (issue 17). The bytes are the same.
		b, err = m.MarshalJSON()
	} else {
		b, err = json.Marshal(e)
	}
	if err != nil {
		return nil, fmt.Errorf("marshal %s: %w", e.EventClass(), err)
	}
	return b, nil
}

// nilPointer reports whether v is a nil pointer, which json.Marshal writes as null and a
// value receiver's MarshalJSON cannot be called on.
func nilPointer(v any) bool {
	r := reflect.ValueOf(v)
	return r.Kind() == reflect.Pointer && r.IsNil()
}

// marshalPlain encodes a value whose type has no MarshalJSON method; MarshalJSON methods that
// fill defaults call it on a method-less copy of themselves.
func marshalPlain(v any) ([]byte, error) { return json.Marshal(v) }

// IsSummaryTopic reports whether a topic carries enveloped health summaries: SummaryTopic itself
// or anything under it (the Stratos CEP fault handler publishes on "summarized-health-stats/#").
func IsSummaryTopic(topic string) bool {
	if !strings.HasPrefix(topic, SummaryTopic) {
		return false
	}
	rest := topic[len(SummaryTopic):]
	return rest == "" || rest[0] == '/' || rest[0] == '.'
}

// Unmarshal decodes a message body received on a topic. The topic picks the type through the
// registry (§1.2); the result is a pointer to the event type, e.g. *MemberActivatedEvent, or a
// *Summary for the summarized-health-stats topics. Decoding is lenient the way Gson is: numbers and
// booleans may be JSON strings, explicit nulls are accepted, unknown keys are ignored and pretty
// printing does not matter. An unknown topic gives an error wrapping ErrUnknownEvent.
func Unmarshal(topic string, body []byte) (Event, error) {
	if IsSummaryTopic(topic) {
		s, err := UnmarshalSummary(body)
		if err != nil {
			return nil, fmt.Errorf("unmarshal %s: %w", topic, err)
		}
		return s, nil
	}
	class := ClassForTopic(topic)
	e, ok := New(class)
	if !ok {
		return nil, fmt.Errorf("unmarshal %s: %w", topic, ErrUnknownEvent)
	}
	if s, ok := e.(*Summary); ok {
		// A summary class as a topic: accept the envelope or the bare message fields.
		if err := decodeSummaryBody(body, s); err != nil {
			return nil, fmt.Errorf("unmarshal %s: %w", topic, err)
		}
		return s, nil
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 && strings.HasPrefix(class, "initializer.") {
		return e, nil // a request event; some publishers send nothing instead of {}
	}
	if err := json.Unmarshal(body, e); err != nil {
		return nil, fmt.Errorf("unmarshal %s: %w", topic, err)
	}
	return e, nil
}

// summaryKeys is the set of message keys the CEP writes, per kind, in order (§3.4).
type summaryKey uint8

const (
	keyClusterID summaryKey = iota
	keyClusterInstanceID
	keyNetworkPartitionID
	keyMemberID
	keyPartitionID
	keyValue
	keyTimestamp
)

var summaryKeyNames = [...]string{
	keyClusterID:          "clusterId",
	keyClusterInstanceID:  "clusterInstanceId",
	keyNetworkPartitionID: "networkPartitionId",
	keyMemberID:           "memberId",
	keyPartitionID:        "partitionId",
	keyValue:              "value",
	keyTimestamp:          "timestamp",
}

var (
	clusterAverageKeys  = []summaryKey{keyClusterID, keyClusterInstanceID, keyNetworkPartitionID, keyValue, keyTimestamp}
	clusterDerivedKeys  = []summaryKey{keyClusterID, keyClusterInstanceID, keyNetworkPartitionID, keyValue}
	memberAverageKeys   = []summaryKey{keyMemberID, keyClusterID, keyClusterInstanceID, keyNetworkPartitionID, keyValue, keyTimestamp}
	memberDerivedKeys   = []summaryKey{keyMemberID, keyClusterID, keyClusterInstanceID, keyNetworkPartitionID, keyValue}
	memberFaultKeys     = []summaryKey{keyClusterID, keyClusterInstanceID, keyNetworkPartitionID, keyMemberID, keyPartitionID}
	summaryKeysByKind   [summaryKinds][]summaryKey
	errSummaryKindOfNil = errors.New("model: summary has no kind")
)

func init() {
	for k := AverageLoadAverage; k < summaryKinds; k++ {
		var keys []summaryKey
		switch k {
		case AverageLoadAverage, AverageMemoryConsumption, AverageRequestsInFlight:
			keys = clusterAverageKeys
		case MemberAverageLoadAverage, MemberAverageMemoryConsumption:
			keys = memberAverageKeys
		case MemberGradientOfLoadAverage, MemberGradientOfMemoryConsumption,
			MemberSecondDerivativeOfLoadAverage, MemberSecondDerivativeOfMemoryConsumption:
			keys = memberDerivedKeys
		case MemberFault:
			keys = memberFaultKeys
		default: // gradients, second derivatives, AverageRequestsServingCapability
			keys = clusterDerivedKeys
		}
		summaryKeysByKind[k] = keys
		register(func() Event { return &Summary{Kind: k} })
	}
}

// SummaryKeys lists the message keys Marshal writes for a kind, in order (§3.4).
// AverageRequestsServingCapability, which no Stratos CEP plan produces, gets the keys of the other
// cluster-level derived statistics.
func SummaryKeys(k SummaryKind) []string {
	if k.Class() == "" {
		return nil
	}
	keys := summaryKeysByKind[k]
	out := make([]string, len(keys))
	for i, key := range keys {
		out[i] = summaryKeyNames[key]
	}
	return out
}

// AppendSummary appends the §1.4 envelope of s to b. It is Marshal for summaries, exposed so the
// CEP can reuse a buffer.
func AppendSummary(b []byte, s *Summary) ([]byte, error) {
	class := s.Kind.Class()
	if class == "" {
		return b, fmt.Errorf("marshal summary: %w", errSummaryKindOfNil)
	}
	b = append(b, `{"`...)
	b = append(b, ClassPrefix...)
	b = append(b, class...)
	b = append(b, `":{"message":{`...)
	for i, key := range summaryKeysByKind[s.Kind] {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, summaryKeyNames[key]...)
		b = append(b, `":`...)
		switch key {
		case keyClusterID:
			b = appendJSONString(b, s.ClusterID)
		case keyClusterInstanceID:
			b = appendJSONString(b, s.ClusterInstanceID)
		case keyNetworkPartitionID:
			b = appendJSONString(b, s.NetworkPartitionID)
		case keyMemberID:
			b = appendJSONString(b, s.MemberID)
		case keyPartitionID:
			b = appendJSONString(b, s.PartitionID)
		case keyValue:
			b = append(b, '"')
			b = AppendFloat(b, s.Value)
			b = append(b, '"')
		case keyTimestamp:
			b = append(b, '"')
			b = strconv.AppendInt(b, s.Timestamp, 10)
			b = append(b, '"')
		}
	}
	return append(b, "}}}"...), nil
}

// appendJSONString appends s as a JSON string. Ids are plain ASCII in practice; anything else goes
// through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// summaryMessage is the inner object of the envelope, decoded leniently.
type summaryMessage struct {
	ClusterID          String `json:"clusterId"`
	ClusterInstanceID  String `json:"clusterInstanceId"`
	NetworkPartitionID String `json:"networkPartitionId"`
	MemberID           String `json:"memberId"`
	PartitionID        String `json:"partitionId"`
	Value              Float  `json:"value"`
	ServedCount        Float  `json:"servedCount"`
	ActiveInstances    Float  `json:"activeInstances"`
	Timestamp          Long   `json:"timestamp"`
}

func (m *summaryMessage) fill(s *Summary) {
	s.ClusterID = string(m.ClusterID)
	s.ClusterInstanceID = string(m.ClusterInstanceID)
	s.NetworkPartitionID = string(m.NetworkPartitionID)
	s.MemberID = string(m.MemberID)
	s.PartitionID = string(m.PartitionID)
	s.Value = float64(m.Value)
	s.ServedCount = float64(m.ServedCount)
	s.ActiveInstances = float64(m.ActiveInstances)
	s.Timestamp = int64(m.Timestamp)
}

// UnmarshalSummary decodes a §1.4 envelope: one key, the fully-qualified (or relative) class
// name of a health.stat event, holding {"message": {...}}. Values may be strings or numbers.
func UnmarshalSummary(body []byte) (*Summary, error) {
	s := new(Summary)
	if decodeSummaryFast(body, s) {
		return s, nil
	}
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(body, &outer); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEnvelope, err)
	}
	if len(outer) != 1 {
		return nil, fmt.Errorf("%w: %d top-level keys, want 1", ErrBadEnvelope, len(outer))
	}
	for class, inner := range outer {
		kind, ok := SummaryKindOf(class)
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrUnknownEvent, class)
		}
		var wrap struct {
			Message *json.RawMessage `json:"message"`
		}
		if err := json.Unmarshal(inner, &wrap); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadEnvelope, class, err)
		}
		if wrap.Message == nil {
			return nil, fmt.Errorf("%w: %s: no message", ErrBadEnvelope, class)
		}
		var m summaryMessage
		if err := json.Unmarshal(*wrap.Message, &m); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadEnvelope, class, err)
		}
		*s = Summary{Kind: kind}
		m.fill(s)
		return s, nil
	}
	panic("unreachable")
}

// decodeSummaryBody fills s (whose Kind is known from the topic) from an envelope or from the
// bare message fields.
func decodeSummaryBody(body []byte, s *Summary) error {
	if env, err := UnmarshalSummary(body); err == nil {
		if env.Kind != s.Kind {
			return fmt.Errorf("%w: envelope holds %s, topic says %s", ErrBadEnvelope, env.Kind, s.Kind)
		}
		*s = *env
		return nil
	}
	var m summaryMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return err
	}
	m.fill(s)
	return nil
}
