package databridge

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/strata-paas/strata/internal/model"
)

// decodePublish decodes one unframed publish message held in msg, the way the server does.
func decodePublish(d *bundleDecoder, msg []byte, lookup func(string) *stream) ([]Event, error) {
	r := &reader{buf: msg, w: len(msg), left: defaultMaxFrame}
	name, typ, _, err := r.readMessageBegin()
	if err != nil {
		return nil, err
	}
	if string(name) != "publish" || typ != msgCall {
		return nil, ErrProtocol
	}
	if err := d.readArgs(r); err != nil {
		return nil, err
	}
	return d.build(lookup)
}

func testLookup() func(string) *stream {
	streams := map[string]*stream{
		model.HealthStreamID:   newStream(HealthStream()),
		model.InFlightStreamID: newStream(InFlightStream()),
	}
	return func(id string) *stream { return streams[id] }
}

func TestDecodeAllocs(t *testing.T) {
	msg := publishMessage("sid", benchSamples(100))
	var d bundleDecoder
	lookup := testLookup()
	if _, err := decodePublish(&d, msg, lookup); err != nil { // warm the buffers and the intern table
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		evs, err := decodePublish(&d, msg, lookup)
		if err != nil || len(evs) != 100 {
			t.Fatalf("decode: %d events, %v", len(evs), err)
		}
	})
	t.Logf("allocations per 100-event bundle: %v", allocs)
	if allocs > 2 {
		t.Errorf("decoding a 100-event bundle allocates %v times, want at most 2 (0 per event)", allocs)
	}

	// Different strings each bundle still intern without allocating once seen.
	msgs := [][]byte{publishMessage("sid", benchSamples(100)), publishMessage("sid", benchSamples(100)[50:])}
	i := 0
	allocs = testing.AllocsPerRun(100, func() {
		i++
		if _, err := decodePublish(&d, msgs[i%2], lookup); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2 {
		t.Errorf("alternating bundles allocate %v times, want at most 2", allocs)
	}
}

func TestDecodeValues(t *testing.T) {
	samples := benchSamples(3)
	samples = append(samples, InFlightEvent(model.HealthSample{ClusterID: "c", ClusterInstanceID: "ci", NetworkPartitionID: "np", Value: 9}))
	samples[1].Arbitrary = map[string]string{"a": "b"}
	var d bundleDecoder
	evs, err := decodePublish(&d, publishMessage("sid", samples), testLookup())
	if err != nil {
		t.Fatal(err)
	}
	if string(d.sid) != "sid" {
		t.Errorf("session id %q", d.sid)
	}
	if diff := cmp.Diff(samples, evs, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b *StreamDefinition) bool { return a.ID == b.ID })); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := publishMessage("sid", benchSamples(2))
	tests := []struct {
		name string
		msg  []byte
		want error
	}{
		{name: "truncated", msg: good[:len(good)-3], want: io.ErrUnexpectedEOF},
		{name: "bad version", msg: append([]byte{0x80, 0x02}, good[2:]...), want: ErrProtocol},
		{name: "negative list", msg: replaceAfter(good, []byte{tList, 0, 4, tI64}, []byte{0xff, 0xff, 0xff, 0xfe}), want: ErrFrameTooLarge},
		{name: "list type", msg: replaceAfter(good, []byte{tList, 0, 4}, []byte{tDouble}), want: ErrProtocol},
		{name: "undefined", msg: publishMessage("sid", []Event{{Stream: &StreamDefinition{ID: "x:1"}}}), want: errUndefinedStream},
		{name: "event count", msg: replaceAfter(good, []byte{tI32, 0, 2}, []byte{0, 0, 0, 9}), want: errShortBundle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d bundleDecoder
			_, err := decodePublish(&d, tt.msg, testLookup())
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// replaceAfter overwrites the bytes following the first occurrence of marker.
func replaceAfter(msg, marker, with []byte) []byte {
	out := append([]byte(nil), msg...)
	i := indexOf(out, marker) + len(marker)
	copy(out[i:], with)
	return out
}

func FuzzDecodePublish(f *testing.F) {
	f.Add(publishMessage("sid", benchSamples(1)))
	f.Add(publishMessage("sid", benchSamples(5)))
	withMap := benchSamples(2)
	withMap[0].Arbitrary = map[string]string{"k": "v"}
	withMap[1].Arbitrary = map[string]string{}
	f.Add(publishMessage("s", withMap))
	mixed := &StreamDefinition{ID: "m:1", Payload: []Attribute{{"i", TypeInt}, {"b", TypeBool}, {"l", TypeLong}}}
	f.Add(publishMessage("s", []Event{{Stream: mixed, Ints: []int32{1}, Bools: []bool{true}, Longs: []int64{2}}}))
	lenient := appendString(nil, "publish")
	lenient = append(lenient, msgCall, 0, 0, 0, 1)
	f.Add(appendBundleArgs(lenient, "sid", benchSamples(1)))
	f.Add([]byte{0x80, 0x01, 0x00, 0x01, 0x7f, 0xff, 0xff, 0xff})
	f.Add([]byte(strings.Repeat("\x0f\x00\x07\x0b\x7f\xff\xff\xff", 4)))
	lookup := func(id string) *stream {
		switch id {
		case model.HealthStreamID:
			return newStream(HealthStream())
		case "m:1":
			return newStream(mixed)
		}
		return nil
	}
	var d bundleDecoder
	f.Fuzz(func(t *testing.T, msg []byte) {
		evs, err := decodePublish(&d, msg, lookup)
		if err != nil {
			return
		}
		for _, e := range evs {
			n := e.Stream.counts()
			if len(e.Strings) != n[TypeString] || len(e.Doubles) != n[TypeDouble] || len(e.Longs) != n[TypeLong] {
				t.Fatalf("event does not match its definition: %+v", e)
			}
		}
	})
}

func TestParseDefinition(t *testing.T) {
	got, err := ParseDefinition(HealthStream().String())
	if err != nil {
		t.Fatal(err)
	}
	if !got.SameLayout(HealthStream()) {
		t.Errorf("health stream does not round-trip: %+v", got)
	}
	if typ, i, ok := got.Index("value"); !ok || typ != TypeDouble || i != 0 {
		t.Errorf("Index(value) = %v %d %v", typ, i, ok)
	}
	if _, i, ok := got.Index("health_description"); !ok || i != 5 {
		t.Errorf("Index(health_description) = %d %v", i, ok)
	}
	if d, err := ParseDefinition(`{"name":"n"}`); err != nil || d.ID != "n:1.0.0" {
		t.Errorf("default version: %v %v", d, err)
	}
	tests := []struct {
		name, text string
		problems   int
	}{
		{name: "not json", text: `nope`, problems: 1},
		{name: "no name", text: `{"version":"1"}`, problems: 1},
		{name: "colon", text: `{"name":"a:b"}`, problems: 1},
		{name: "several", text: `{"name":"a","metaData":[{"name":"","type":"STRING"},{"name":"x","type":"TEXT"}],` +
			`"payloadData":[{"name":"p","type":"INT"},{"name":"p","type":"LONG"}]}`, problems: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseDefinition(tt.text)
			if !errors.Is(err, ErrMalformedDefinition) {
				t.Fatalf("err = %v", err)
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != tt.problems {
				t.Errorf("%d problems reported, want %d: %v", n, tt.problems, err)
			}
		})
	}
}

// FuzzServeBytes feeds arbitrary bytes to a connection's message loop: whatever they are, it
// answers or fails with an error; it never panics.
func FuzzServeBytes(f *testing.F) {
	const sid = "fuzz-session"
	call := func(method string, args func([]byte) []byte) []byte {
		b := appendMessageBegin(nil, method, msgCall, 7)
		return append(args(b), tStop)
	}
	f.Add(publishMessage(sid, benchSamples(2)))
	f.Add(call("defineStream", func(b []byte) []byte {
		return appendStringField(appendStringField(b, 1, sid), 2, LogStream("logs.x").String())
	}))
	f.Add(call("findStreamId", func(b []byte) []byte {
		return appendStringField(appendStringField(appendStringField(b, 1, sid), 2, "cartridge_agent_health_stats"), 3, "1.0.0")
	}))
	f.Add(call("deleteStreamById", func(b []byte) []byte {
		return appendStringField(appendStringField(b, 1, sid), 2, model.InFlightStreamID)
	}))
	f.Add(call("nosuch", func(b []byte) []byte { return appendStringField(b, 1, "x") }))
	framed := publishMessage(sid, benchSamples(1))
	f.Add(append(binary.BigEndian.AppendUint32(nil, uint32(len(framed))), framed...))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &Server{
			opts:     ServerOptions{MaxFrame: 1 << 20, Handler: &countingHandler{}},
			log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
			sessions: newSessionStore(time.Hour, time.Now),
			streams:  map[string]*stream{model.HealthStreamID: newStream(HealthStream())},
		}
		sess := s.sessions.create("fuzz", Scope{All: true})
		s.sessions.m[sid] = sess
		sc := &serverConn{s: s, streams: make(map[string]*stream), r: &reader{buf: in, w: len(in)}}
		if sc.detect() != nil {
			return
		}
		for range 100 {
			if err := sc.handle(context.Background()); err != nil {
				return
			}
			if sc.r.buffered() == 0 {
				return
			}
		}
	})
}
