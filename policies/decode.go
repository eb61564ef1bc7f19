package policies

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// The strict decoder. yaml.v3's own decoding reports unknown fields by line only and stops at
// the first type error, so policy files are parsed into yaml.Node trees and walked here: every
// unknown or duplicate key, wrong type and bad value is reported with file:line:col, all at once.
// Stratos JSON is turned into the same node tree (see jsonNode) and decoded leniently: numbers
// and booleans may be strings, as the Stratos samples write them.

// meta is embedded in every file-shaped struct: where the mapping is and where each key's value is.
type meta struct {
	pos  Pos
	keys map[string]Pos
}

// at is the position of key's value, or of the mapping when the key is absent.
func (m *meta) at(key string) Pos {
	if p, ok := m.keys[key]; ok {
		return p
	}
	return m.pos
}

func (m *meta) has(key string) bool { _, ok := m.keys[key]; return ok }

// str is a string that remembers where it was written and how (for mapping expr positions).
type str struct {
	V      string
	Pos    Pos
	Style  yaml.Style
	Indent int // for block scalars: the indentation of the content lines
}

// props is a list of name/value properties: a YAML mapping, or Stratos' [{name, value}] list.
type props struct {
	List []Property
	Pos  Pos
}

// Property is one name/value property of a partition, network partition or application policy.
type Property struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

var (
	metaType     = reflect.TypeFor[meta]()
	strType      = reflect.TypeFor[str]()
	propsType    = reflect.TypeFor[props]()
	durationType = reflect.TypeFor[time.Duration]()
)

// maxNodes bounds the work one document may cause; aliases can make a small file expand
// exponentially.
const maxNodes = 100_000

// maxDepth bounds the nesting of Stratos JSON; policies nest five levels deep.
const maxDepth = 64

type decoder struct {
	file    string
	lines   []string // source lines, for block scalar indentation
	lenient bool     // Stratos JSON: numbers and booleans may be strings; JSON-only keys allowed
	nodes   int
	p       *problems
}

func (d *decoder) pos(n *yaml.Node) Pos { return Pos{File: d.file, Line: n.Line, Col: n.Column} }

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.p.add(d.pos(n), format, args...)
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "number " + n.Value
		case "!!bool":
			return "bool " + n.Value
		case "!!null":
			return "null"
		}
		return strconv.Quote(n.Value)
	}
	return "a value"
}

// decode fills v from n. v must be settable.
func (d *decoder) decode(n *yaml.Node, v reflect.Value) {
	if d.nodes++; d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.errorf(n, "document too large or too deeply aliased (over %d nodes)", maxNodes)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		d.decode(n.Alias, v)
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // null is absent
	}
	t := v.Type()
	switch {
	case t == strType:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "expected a string, got %s", describe(n))
			return
		}
		s := str{V: n.Value, Pos: d.pos(n), Style: n.Style}
		if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 && n.Line < len(d.lines) {
			line := d.lines[n.Line] // the first content line follows the indicator's line
			s.Indent = len(line) - len(strings.TrimLeft(line, " "))
		}
		v.Set(reflect.ValueOf(s))
		return
	case t == propsType:
		v.Set(reflect.ValueOf(d.props(n)))
		return
	case t == durationType:
		d.duration(n, v)
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		e := reflect.New(t.Elem())
		d.decode(n, e.Elem())
		v.Set(e)
	case reflect.Struct:
		d.structure(n, v)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, "expected a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, s.Index(i))
		}
		v.Set(s)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "expected a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		b, ok := d.scalar(n, "!!bool")
		if !ok {
			d.errorf(n, "expected a bool, got %s", describe(n))
			return
		}
		x, err := strconv.ParseBool(strings.ToLower(b))
		if err != nil {
			d.errorf(n, "expected a bool, got %s", describe(n))
			return
		}
		v.SetBool(x)
	case reflect.Int:
		s, ok := d.scalar(n, "!!int", "!!float")
		f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
		if !ok || err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<31 {
			d.errorf(n, "expected an integer, got %s", describe(n))
			return
		}
		v.SetInt(int64(f))
	case reflect.Float64:
		s, ok := d.scalar(n, "!!int", "!!float")
		f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
		if !ok || err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.errorf(n, "expected a number, got %s", describe(n))
			return
		}
		v.SetFloat(f)
	default:
		panic(fmt.Sprintf("policies: no decoder for %s", t))
	}
}

// scalar returns n's text if n is a scalar with one of the tags, or (lenient) a string.
func (d *decoder) scalar(n *yaml.Node, tags ...string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		return "", false
	}
	tag := n.ShortTag()
	for _, t := range tags {
		if tag == t {
			return n.Value, true
		}
	}
	if d.lenient && tag == "!!str" {
		return strings.TrimSpace(n.Value), true
	}
	return "", false
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value) {
	if n.Kind == yaml.ScalarNode {
		if n.Value == "0" {
			v.SetInt(0)
			return
		}
		if n.ShortTag() == "!!str" {
			if x, err := time.ParseDuration(n.Value); err == nil {
				if x < 0 {
					d.errorf(n, "duration %s is negative", n.Value)
					return
				}
				v.SetInt(int64(x))
				return
			}
		}
	}
	d.errorf(n, "expected a duration such as 90s or 5m, got %s", describe(n))
}

// field describes one key of a file-shaped struct.
type field struct {
	index    int
	jsonOnly bool // accepted in Stratos JSON only
}

var fieldCache sync.Map // reflect.Type → map[string]field

func fieldsOf(t reflect.Type) map[string]field {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]field)
	}
	m := map[string]field{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "" || tag == "-" {
			continue
		}
		name, opt, _ := strings.Cut(tag, ",")
		m[name] = field{index: i, jsonOnly: opt == "json"}
	}
	fieldCache.Store(t, m)
	return m
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "expected a mapping, got %s", describe(n))
		return
	}
	t := v.Type()
	fields := fieldsOf(t)
	var m *meta
	if f, ok := t.FieldByName("meta"); ok && f.Type == metaType {
		m = (*meta)(v.FieldByIndex(f.Index).Addr().UnsafePointer())
		m.pos = d.pos(n)
		m.keys = make(map[string]Pos, len(n.Content)/2)
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "expected a key, got %s", describe(k))
			continue
		}
		f, ok := fields[k.Value]
		if !ok || (f.jsonOnly && !d.lenient) {
			d.errorf(k, "unknown field %q%s", k.Value, suggest(k.Value, fields, d.lenient))
			continue
		}
		if seen[k.Value] {
			d.errorf(k, "duplicate field %q", k.Value)
			continue
		}
		seen[k.Value] = true
		if m != nil {
			m.keys[k.Value] = d.pos(val)
		}
		d.decode(val, v.Field(f.index))
	}
}

// suggest names the known fields, to make a typo obvious.
func suggest(name string, fields map[string]field, lenient bool) string {
	var best string
	for k, f := range fields {
		if f.jsonOnly && !lenient {
			continue
		}
		if strings.EqualFold(k, name) || levenshtein(k, name) <= 2 {
			if best == "" || k < best {
				best = k
			}
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func levenshtein(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// fileProperty is one entry of a Stratos property list.
type fileProperty struct {
	meta
	Name  *string `yaml:"name"`
	Value *string `yaml:"value"`
}

func (d *decoder) props(n *yaml.Node) props {
	out := props{Pos: d.pos(n)}
	seen := map[string]bool{}
	addProp := func(at *yaml.Node, name, value string) {
		if seen[name] {
			d.errorf(at, "duplicate property %q", name)
			return
		}
		seen[name] = true
		out.List = append(out.List, Property{Name: name, Value: value})
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || val.Kind != yaml.ScalarNode {
				d.errorf(val, "expected a property name and a scalar value")
				continue
			}
			addProp(k, k.Value, val.Value)
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			var fp fileProperty
			d.decode(c, reflect.ValueOf(&fp).Elem())
			if c.Kind != yaml.MappingNode {
				continue
			}
			if fp.Name == nil || *fp.Name == "" {
				d.p.add(fp.pos, "property without a name")
				continue
			}
			value := ""
			if fp.Value != nil {
				value = *fp.Value
			}
			addProp(c, *fp.Name, value)
		}
	default:
		d.errorf(n, "expected properties (a mapping or a list of name/value), got %s", describe(n))
	}
	return out
}

var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// yamlDocs splits a YAML stream into its documents' root nodes. A syntax error ends the stream
// and is reported at its line.
func yamlDocs(file string, data []byte, p *problems) []*yaml.Node {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			pos := Pos{File: file, Line: 1, Col: 1}
			msg := err.Error()
			if m := yamlLine.FindStringSubmatch(msg); m != nil {
				if m[1] != "" {
					pos.Line, _ = strconv.Atoi(m[1])
				}
				msg = m[2]
				// yaml.v3 numbers a parser error's line from 0 (a scanner error's from 1), and
				// leaves the line out when it is 0; libyaml's parser messages are the "did not
				// find expected ..." ones.
				if strings.HasPrefix(msg, "did not find expected") && m[1] != "" {
					pos.Line++
				}
			}
			p.add(pos, "yaml: %s", msg)
			return docs
		}
		if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
			root := doc.Content[0]
			if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
				continue // an empty document, e.g. a trailing ---
			}
			docs = append(docs, root)
		}
	}
}

// jsonNode parses JSON into a yaml.Node tree with line and column positions, so that Stratos
// JSON goes through the same strict decoder as YAML. Duplicate keys are left to the decoder.
func jsonNode(file string, data []byte, p *problems) *yaml.Node {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	lc := newLineCounter(data)
	var parse func() (*yaml.Node, error)
	depth := 0
	start := func() Pos {
		off := int(dec.InputOffset())
		for off < len(data) && strings.IndexByte(" \t\r\n,:", data[off]) >= 0 {
			off++
		}
		return lc.pos(file, off)
	}
	parse = func() (*yaml.Node, error) {
		at := start()
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		n := &yaml.Node{Line: at.Line, Column: at.Col}
		switch t := tok.(type) {
		case json.Delim:
			if depth++; depth > maxDepth {
				return nil, fmt.Errorf("nested deeper than %d levels", maxDepth)
			}
			defer func() { depth-- }()
			switch t {
			case '{':
				n.Kind, n.Tag = yaml.MappingNode, "!!map"
				for dec.More() {
					kat := start()
					kt, err := dec.Token()
					if err != nil {
						return nil, err
					}
					ks, _ := kt.(string)
					n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: ks, Line: kat.Line, Column: kat.Col})
					v, err := parse()
					if err != nil {
						return nil, err
					}
					n.Content = append(n.Content, v)
				}
			case '[':
				n.Kind, n.Tag = yaml.SequenceNode, "!!seq"
				for dec.More() {
					v, err := parse()
					if err != nil {
						return nil, err
					}
					n.Content = append(n.Content, v)
				}
			default:
				return nil, fmt.Errorf("unexpected %v", t)
			}
			if _, err := dec.Token(); err != nil { // the closing delimiter
				return nil, err
			}
		case string:
			n.Kind, n.Tag, n.Value, n.Style = yaml.ScalarNode, "!!str", t, yaml.DoubleQuotedStyle
		case json.Number:
			n.Kind, n.Value = yaml.ScalarNode, t.String()
			n.Tag = "!!int"
			if strings.ContainsAny(n.Value, ".eE") {
				n.Tag = "!!float"
			}
		case bool:
			n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!bool", strconv.FormatBool(t)
		case nil:
			n.Kind, n.Tag, n.Value = yaml.ScalarNode, "!!null", "null"
		}
		return n, nil
	}
	root, err := parse()
	if err == nil {
		if _, err2 := dec.Token(); !errors.Is(err2, io.EOF) {
			err = errors.New("unexpected data after the top-level value")
		}
	}
	if err != nil {
		off := int(dec.InputOffset())
		var se *json.SyntaxError
		if errors.As(err, &se) {
			off = int(se.Offset)
		}
		if errors.Is(err, io.EOF) {
			err = errors.New("unexpected end of JSON input")
		}
		p.add(lc.pos(file, min(off, len(data))), "json: %s", err)
		return nil
	}
	return root
}

type lineCounter struct{ starts []int }

func newLineCounter(data []byte) lineCounter {
	starts := []int{0}
	for i, c := range data {
		if c == '\n' {
			starts = append(starts, i+1)
		}
	}
	return lineCounter{starts: starts}
}

func (l lineCounter) pos(file string, off int) Pos {
	i := sort.Search(len(l.starts), func(i int) bool { return l.starts[i] > off }) - 1
	return Pos{File: file, Line: i + 1, Col: off - l.starts[i] + 1}
}
