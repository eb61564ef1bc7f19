package databridge

// AttributeType is the type of one stream attribute (docs/stratos-wire.md §2.4).
type AttributeType uint8

// Attribute types as written in stream definitions.
const (
	TypeString AttributeType = iota + 1
	TypeInt
	TypeLong
	TypeFloat
	TypeDouble
	TypeBool
)

// Attribute is one named, typed attribute of a stream definition.
type Attribute struct {
	Name string
	Type AttributeType
}

// StreamDefinition is a defined stream. Its attributes are listed in definition order: meta, then
// correlation, then payload. Index gives where an attribute lands in an Event's typed lists.
type StreamDefinition struct {
	ID          string // name:version
	Name        string
	Version     string
	NickName    string
	Description string
	Meta        []Attribute
	Correlation []Attribute
	Payload     []Attribute
	JSON        string // the definition as it was given
}

// Event is one decoded event of a bundle, with its attributes split by type in definition order
// (meta, correlation, payload), the stream id and timestamp excluded (§2.3). FLOAT and DOUBLE
// attributes both land in Doubles. Strings are interned by the decoder: they may be kept after the
// handler returns, but the Event value and its slices are reused for the next bundle.
type Event struct {
	Stream    *StreamDefinition
	Timestamp int64 // ms since the epoch
	Strings   []string
	Longs     []int64
	Doubles   []float64
	Ints      []int32
	Bools     []bool
	Arbitrary map[string]string // the event's arbitraryDataMap entry, nil when absent
}

// Handler receives the events of each published bundle, in order. It is called from many
// goroutines at once (one per connection), so it must be safe for concurrent use and must not
// block for long; the slice and the events' slices are reused after it returns (the strings may
// be kept).
type Handler interface {
	HandleEvents(events []Event)
}

// list returns which typed list of an Event an attribute type lands in.
func (t AttributeType) list() AttributeType {
	if t == TypeFloat {
		return TypeDouble
	}
	return t
}

// Index finds an attribute by name and returns its type and its position in the Event's list for
// that type (Strings, Longs, Doubles, Ints or Bools). Consumers resolve names once per definition,
// then read events by position.
func (d *StreamDefinition) Index(name string) (AttributeType, int, bool) {
	var n [TypeBool + 1]int
	for _, section := range [][]Attribute{d.Meta, d.Correlation, d.Payload} {
		for _, a := range section {
			l := a.Type.list()
			if a.Name == name {
				return a.Type, n[l], true
			}
			n[l]++
		}
	}
	return 0, 0, false
}
