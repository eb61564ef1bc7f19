package databridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrMalformedDefinition is wrapped by ParseDefinition's errors; the server answers them with
// ThriftMalformedStreamDefinitionException.
var ErrMalformedDefinition = errors.New("databridge: malformed stream definition")

// definitionFile is the JSON shape of a stream definition as agents send it (§2.4).
type definitionFile struct {
	Name            string          `json:"name"`
	Version         string          `json:"version"`
	NickName        string          `json:"nickName,omitempty"`
	Description     string          `json:"description,omitempty"`
	MetaData        []attributeFile `json:"metaData,omitempty"`
	CorrelationData []attributeFile `json:"correlationData,omitempty"`
	PayloadData     []attributeFile `json:"payloadData,omitempty"`
}

type attributeFile struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

var typeNames = [...]string{
	TypeString: "STRING",
	TypeInt:    "INT",
	TypeLong:   "LONG",
	TypeFloat:  "FLOAT",
	TypeDouble: "DOUBLE",
	TypeBool:   "BOOL",
}

// String is the type's name as written in definitions, e.g. "STRING".
func (t AttributeType) String() string {
	if t == 0 || int(t) >= len(typeNames) {
		return fmt.Sprintf("AttributeType(%d)", t)
	}
	return typeNames[t]
}

// ParseAttributeType reads a type name (STRING, INT, LONG, FLOAT, DOUBLE, BOOL; any case).
func ParseAttributeType(s string) (AttributeType, bool) {
	for t := TypeString; t <= TypeBool; t++ {
		if strings.EqualFold(typeNames[t], s) {
			return t, true
		}
	}
	return 0, false
}

// StreamID is the WSO2 stream id of a name and version: "name:version".
func StreamID(name, version string) string { return name + ":" + version }

// ParseDefinition decodes and validates a stream definition in the JSON of §2.4. A missing version
// defaults to 1.0.0, as in WSO2. Every problem is reported, each wrapping ErrMalformedDefinition.
func ParseDefinition(text string) (*StreamDefinition, error) {
	var f definitionFile
	dec := json.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedDefinition, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the definition", ErrMalformedDefinition)
	}
	var errs []error
	if f.Name == "" {
		errs = append(errs, fmt.Errorf("%w: no name", ErrMalformedDefinition))
	}
	if strings.ContainsAny(f.Name, ": \t\n") || strings.ContainsAny(f.Version, ": \t\n") {
		errs = append(errs, fmt.Errorf("%w: name or version %q:%q holds a colon or a space", ErrMalformedDefinition, f.Name, f.Version))
	}
	if f.Version == "" {
		f.Version = "1.0.0"
	}
	d := &StreamDefinition{
		ID:          StreamID(f.Name, f.Version),
		Name:        f.Name,
		Version:     f.Version,
		NickName:    f.NickName,
		Description: f.Description,
		JSON:        text,
	}
	convert := func(section string, in []attributeFile) []Attribute {
		var out []Attribute
		seen := make(map[string]bool, len(in))
		for i, a := range in {
			t, ok := ParseAttributeType(a.Type)
			switch {
			case a.Name == "":
				errs = append(errs, fmt.Errorf("%w: %s[%d] has no name", ErrMalformedDefinition, section, i))
			case seen[a.Name]:
				errs = append(errs, fmt.Errorf("%w: %s[%d] repeats attribute %q", ErrMalformedDefinition, section, i, a.Name))
			case !ok:
				errs = append(errs, fmt.Errorf("%w: %s[%d] %q has unknown type %q", ErrMalformedDefinition, section, i, a.Name, a.Type))
			}
			seen[a.Name] = true
			out = append(out, Attribute{Name: a.Name, Type: t})
		}
		return out
	}
	d.Meta = convert("metaData", f.MetaData)
	d.Correlation = convert("correlationData", f.CorrelationData)
	d.Payload = convert("payloadData", f.PayloadData)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return d, nil
}

// String is the definition in the JSON of §2.4, empty sections omitted, as the client sends it.
func (d *StreamDefinition) String() string {
	f := definitionFile{Name: d.Name, Version: d.Version, NickName: d.NickName, Description: d.Description}
	section := func(in []Attribute) []attributeFile {
		var out []attributeFile
		for _, a := range in {
			out = append(out, attributeFile{Name: a.Name, Type: a.Type.String()})
		}
		return out
	}
	f.MetaData = section(d.Meta)
	f.CorrelationData = section(d.Correlation)
	f.PayloadData = section(d.Payload)
	b, err := json.Marshal(f)
	if err != nil { // cannot happen: only strings
		panic(err)
	}
	return string(b)
}

// SameLayout reports whether two definitions have the same id and the same attributes in the same
// order, which is what decides whether redefining a stream is allowed. Nick names and
// descriptions may differ.
func (d *StreamDefinition) SameLayout(o *StreamDefinition) bool {
	return d.ID == o.ID && slices.Equal(d.Meta, o.Meta) && slices.Equal(d.Correlation, o.Correlation) &&
		slices.Equal(d.Payload, o.Payload)
}

// counts returns how many attributes of the definition land in each typed list of an Event.
func (d *StreamDefinition) counts() (n [TypeBool + 1]int) {
	for _, section := range [][]Attribute{d.Meta, d.Correlation, d.Payload} {
		for _, a := range section {
			n[a.Type.list()]++
		}
	}
	return n
}
