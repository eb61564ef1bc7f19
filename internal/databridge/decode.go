package databridge

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The ingest hot path: the arguments of a publish call decoded straight from the reader's buffer
// into flat per-connection lists, then cut into Events by the stream definitions. Nothing here
// allocates per event once the connection's buffers have grown to the bundle size: strings are
// interned, the lists and the Event slice are reused, and Event's typed slices are windows into
// the flat lists.

// Semantic errors of a publish call. The call is answered with an exception and the connection
// keeps going.
var (
	errUndefinedStream = errors.New("databridge: undefined stream")
	errShortBundle     = errors.New("databridge: bundle lists shorter than the definitions of its events")
)

const (
	internMaxLen     = 128  // longer strings (log lines) are copied, not interned
	internMaxEntries = 8192 // per connection; the table is cleared when full
)

// internTable returns one string per distinct byte sequence, so repeated ids (cluster, member,
// metric names) cost one allocation per connection rather than one per event.
type internTable struct {
	m map[string]string
}

func (t *internTable) get(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > internMaxLen {
		return string(b)
	}
	if s, ok := t.m[string(b)]; ok { // does not allocate
		return s
	}
	if t.m == nil {
		t.m = make(map[string]string, 64)
	} else if len(t.m) >= internMaxEntries {
		clear(t.m)
	}
	s := string(b)
	t.m[s] = s
	return s
}

// stream is a defined stream with its per-type attribute counts.
type stream struct {
	def *StreamDefinition
	n   [TypeBool + 1]int
}

func newStream(def *StreamDefinition) *stream { return &stream{def: def, n: def.counts()} }

// bundleDecoder holds one connection's decoding state; it is not safe for concurrent use.
type bundleDecoder struct {
	intern   internTable
	sid      []byte
	eventNum int32
	ints     []int32
	longs    []int64
	doubles  []float64
	bools    []bool
	strs     []string
	prevStrs int     // len(strs) of the previous bundle; strs[:cap] still holds its strings
	arbIdx   []int32 // event index of arbMaps[i]
	arbMaps  []map[string]string
	arbUsed  int
	events   []Event
	undef    string // the stream id that was not found, after errUndefinedStream
}

func (d *bundleDecoder) reset() {
	d.sid = d.sid[:0]
	d.eventNum = 0
	d.ints = d.ints[:0]
	d.longs = d.longs[:0]
	d.doubles = d.doubles[:0]
	d.bools = d.bools[:0]
	d.prevStrs = len(d.strs)
	d.strs = d.strs[:0]
	d.arbIdx = d.arbIdx[:0]
	d.arbUsed = 0
}

// readArgs reads the argument struct of publish (field 1: ThriftEventBundle).
func (d *bundleDecoder) readArgs(r *reader) error {
	d.reset()
	for {
		typ, id, err := r.readFieldBegin()
		if err != nil {
			return err
		}
		if typ == tStop {
			return nil
		}
		if id == 1 && typ == tStruct {
			if err := d.readBundle(r); err != nil {
				return err
			}
			continue
		}
		if err := r.skip(typ, 0); err != nil {
			return err
		}
	}
}

func (d *bundleDecoder) readBundle(r *reader) error {
	for {
		typ, id, err := r.readFieldBegin()
		if err != nil {
			return err
		}
		if typ == tStop {
			return nil
		}
		switch {
		case id == 1 && typ == tString:
			b, err := r.readBytes()
			if err != nil {
				return err
			}
			d.sid = append(d.sid[:0], b...)
		case id == 2 && typ == tI32:
			if d.eventNum, err = r.readI32(); err != nil {
				return err
			}
		case id == 3 && typ == tList:
			n, err := r.readListBegin(tI32, 4)
			if err != nil {
				return err
			}
			if err := r.fill(4 * n); err != nil {
				return err
			}
			for i := range n {
				d.ints = append(d.ints, int32(binary.BigEndian.Uint32(r.buf[r.r+4*i:])))
			}
			r.advance(4 * n)
		case id == 4 && typ == tList:
			n, err := r.readListBegin(tI64, 8)
			if err != nil {
				return err
			}
			if err := r.fill(8 * n); err != nil {
				return err
			}
			for i := range n {
				d.longs = append(d.longs, int64(binary.BigEndian.Uint64(r.buf[r.r+8*i:])))
			}
			r.advance(8 * n)
		case id == 5 && typ == tList:
			n, err := r.readListBegin(tDouble, 8)
			if err != nil {
				return err
			}
			if err := r.fill(8 * n); err != nil {
				return err
			}
			for i := range n {
				d.doubles = append(d.doubles, float64frombits(binary.BigEndian.Uint64(r.buf[r.r+8*i:])))
			}
			r.advance(8 * n)
		case id == 6 && typ == tList:
			n, err := r.readListBegin(tBool, 1)
			if err != nil {
				return err
			}
			if err := r.fill(n); err != nil {
				return err
			}
			for i := range n {
				d.bools = append(d.bools, r.buf[r.r+i] != 0)
			}
			r.advance(n)
		case id == 7 && typ == tList:
			n, err := r.readListBegin(tString, 4)
			if err != nil {
				return err
			}
			for range n {
				var b []byte
				// Fast path: length and bytes already buffered.
				if avail := r.w - r.r; avail >= 4 {
					l := int(int32(binary.BigEndian.Uint32(r.buf[r.r:])))
					if l >= 0 && avail-4 >= l && l+4 <= r.left {
						b = r.buf[r.r+4 : r.r+4+l]
						r.advance(4 + l)
					}
				}
				if b == nil {
					if b, err = r.readBytes(); err != nil {
						return err
					}
				}
				// A publisher repeats itself: the string at the same position of the previous
				// bundle is compared before the intern table is hashed.
				if i := len(d.strs); i < d.prevStrs {
					if old := d.strs[:i+1][i]; old == string(b) {
						d.strs = append(d.strs, old)
						continue
					}
				}
				d.strs = append(d.strs, d.intern.get(b))
			}
		case id == 8 && typ == tMap:
			if err := d.readArbitrary(r); err != nil {
				return err
			}
		default:
			if err := r.skip(typ, 0); err != nil {
				return err
			}
		}
	}
}

// readArbitrary reads map<i32, map<string,string>> into pooled maps.
func (d *bundleDecoder) readArbitrary(r *reader) error {
	if err := r.fill(6); err != nil {
		return err
	}
	kt, vt := r.buf[r.r], r.buf[r.r+1]
	n := int(int32(binary.BigEndian.Uint32(r.buf[r.r+2:])))
	r.advance(6)
	if n < 0 || n*5 > r.left {
		return r.fail(fmt.Errorf("%w: map of %d entries", ErrFrameTooLarge, n))
	}
	if n > 0 && (kt != tI32 || vt != tMap) {
		return r.fail(fmt.Errorf("%w: arbitraryDataMapMap of types %d/%d", ErrProtocol, kt, vt))
	}
	for range n {
		idx, err := r.readI32()
		if err != nil {
			return err
		}
		if err := r.fill(6); err != nil {
			return err
		}
		ikt, ivt := r.buf[r.r], r.buf[r.r+1]
		m := int(int32(binary.BigEndian.Uint32(r.buf[r.r+2:])))
		r.advance(6)
		if m < 0 || m*8 > r.left {
			return r.fail(fmt.Errorf("%w: map of %d entries", ErrFrameTooLarge, m))
		}
		if m > 0 && (ikt != tString || ivt != tString) {
			return r.fail(fmt.Errorf("%w: arbitrary data map of types %d/%d", ErrProtocol, ikt, ivt))
		}
		if d.arbUsed == len(d.arbMaps) {
			d.arbMaps = append(d.arbMaps, make(map[string]string, m))
		}
		am := d.arbMaps[d.arbUsed]
		clear(am)
		d.arbUsed++
		d.arbIdx = append(d.arbIdx, idx)
		for range m {
			k, err := r.readBytes()
			if err != nil {
				return err
			}
			ks := d.intern.get(k)
			v, err := r.readBytes()
			if err != nil {
				return err
			}
			am[ks] = d.intern.get(v)
		}
	}
	return nil
}

// build cuts the flat lists into events (§2.3): per event, the stream id from the strings, the
// timestamp from the longs, then the definition's attributes from each typed list. lookup finds a
// stream by id; it must not allocate on the hot path.
func (d *bundleDecoder) build(lookup func(id string) *stream) ([]Event, error) {
	n := int(d.eventNum)
	if n < 0 || n > len(d.strs) {
		return nil, errShortBundle
	}
	if cap(d.events) < n {
		d.events = make([]Event, n, n+n/4)
	}
	evs := d.events[:n]
	var si, li, di, ii, bi int
	for e := range evs {
		if si >= len(d.strs) || li >= len(d.longs) {
			return nil, errShortBundle
		}
		st := lookup(d.strs[si])
		if st == nil {
			d.undef = d.strs[si]
			return nil, errUndefinedStream
		}
		si++
		ev := &evs[e]
		ev.Stream = st.def
		ev.Timestamp = d.longs[li]
		li++
		c := st.n
		if si+c[TypeString] > len(d.strs) || li+c[TypeLong] > len(d.longs) ||
			di+c[TypeDouble] > len(d.doubles) || ii+c[TypeInt] > len(d.ints) || bi+c[TypeBool] > len(d.bools) {
			return nil, errShortBundle
		}
		ev.Strings = d.strs[si : si+c[TypeString] : si+c[TypeString]]
		ev.Longs = d.longs[li : li+c[TypeLong] : li+c[TypeLong]]
		ev.Doubles = d.doubles[di : di+c[TypeDouble] : di+c[TypeDouble]]
		ev.Ints = d.ints[ii : ii+c[TypeInt] : ii+c[TypeInt]]
		ev.Bools = d.bools[bi : bi+c[TypeBool] : bi+c[TypeBool]]
		ev.Arbitrary = nil
		si += c[TypeString]
		li += c[TypeLong]
		di += c[TypeDouble]
		ii += c[TypeInt]
		bi += c[TypeBool]
	}
	for i, idx := range d.arbIdx {
		if idx >= 0 && int(idx) < n {
			evs[idx].Arbitrary = d.arbMaps[i]
		}
	}
	return evs, nil
}
