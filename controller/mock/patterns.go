package mock

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultType is the Patterns key that serves the cartridge types a pattern file does not name.
const DefaultType = "*"

// DefaultPatterns are the patterns of a cartridge type that no configured pattern names: a
// steady 20 % memory consumption and load average, below any sensible threshold. Members publish
// health every Interval, so the CEP never finds them silent, and nothing scales out.
func DefaultPatterns() []Pattern {
	return []Pattern{
		{Factor: MemoryConsumption, Values: []float64{20}, Duration: time.Minute, Mode: Continue},
		{Factor: LoadAverage, Values: []float64{20}, Duration: time.Minute, Mode: Continue},
	}
}

// LoadPatterns reads a health pattern file, in Stratos' mock-iaas.xml format or in Strata's
// YAML (a file whose first non-blank character is '<' is XML), and returns the patterns by
// cartridge type. Every problem is reported, with the file's path and the line and column of the
// pattern.
//
// The XML is Stratos' (docs/stratos-wire.md §8.1):
//
//	<mock-iaas enabled="true"><health-statistics>
//	  <cartridge type="php">
//	    <pattern factor="memory-consumption" mode="continue">
//	      <sampleValues>60,60,10</sampleValues><sampleDuration>60</sampleDuration>
//	    </pattern>
//	  </cartridge>
//	</health-statistics></mock-iaas>
//
// The YAML says the same (sampleDuration in seconds, or a duration such as 90s):
//
//	cartridges:
//	  php:
//	    - {factor: memory-consumption, mode: continue, sampleValues: [60, 60, 10], sampleDuration: 60}
func LoadPatterns(path string) (map[string][]Pattern, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mock: health patterns: %w", err)
	}
	ps, err := ParsePatterns(path, b)
	if err != nil {
		return nil, fmt.Errorf("mock: health patterns: %w", err)
	}
	return ps, nil
}

// ParsePatterns parses the content of a pattern file named name (see LoadPatterns).
func ParsePatterns(name string, b []byte) (map[string][]Pattern, error) {
	if t := bytes.TrimLeft(b, " \t\r\n\ufeff"); len(t) > 0 && t[0] == '<' {
		return parseXML(name, b)
	}
	return parseYAML(name, b)
}

// patternAt is a decoded pattern with where it was written.
type patternAt struct {
	typ       string
	line, col int
	p         Pattern
	errs      []error
}

// collect checks every pattern and builds the map; a cartridge type may not repeat a factor.
func collect(name string, found []patternAt) (map[string][]Pattern, error) {
	out := map[string][]Pattern{}
	var errs []error
	for _, f := range found {
		errs2 := f.errs
		if err := f.p.check(); err != nil {
			errs2 = append(errs2, err)
		}
		for _, q := range out[f.typ] {
			if q.Factor == f.p.Factor && f.p.Factor != "" {
				errs2 = append(errs2, fmt.Errorf("cartridge %s has a second %s pattern", f.typ, f.p.Factor))
			}
		}
		if f.typ == "" {
			errs2 = append(errs2, errors.New("pattern outside a cartridge type"))
		}
		for _, e := range errs2 {
			errs = append(errs, fmt.Errorf("%s:%d:%d: %w", name, f.line, f.col, e))
		}
		if len(errs2) == 0 {
			out[f.typ] = append(out[f.typ], f.p)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no pattern", name)
	}
	return out, nil
}

// xmlPattern is a <pattern> element of mock-iaas.xml.
type xmlPattern struct {
	Factor   string `xml:"factor,attr"`
	Mode     string `xml:"mode,attr"`
	Values   string `xml:"sampleValues"`
	Duration string `xml:"sampleDuration"`
}

func parseXML(name string, b []byte) (map[string][]Pattern, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	d.CharsetReader = charsetReader
	var (
		found []patternAt
		typ   string
		depth int
		root  bool
	)
	for {
		line, col := d.InputPos() // where the next token starts
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 {
				if t.Name.Local != "mock-iaas" {
					return nil, fmt.Errorf("%s:%d:%d: root element <%s>, want <mock-iaas>", name, line, col, t.Name.Local)
				}
				root = true
			}
			switch t.Name.Local {
			case "cartridge":
				typ = ""
				for _, a := range t.Attr {
					if a.Name.Local == "type" {
						typ = strings.TrimSpace(a.Value)
					}
				}
			case "pattern":
				var x xmlPattern
				if err := d.DecodeElement(&x, &t); err != nil {
					return nil, fmt.Errorf("%s:%d:%d: %w", name, line, col, err)
				}
				depth--
				f := patternAt{typ: typ, line: line, col: col,
					p: Pattern{Factor: Factor(strings.TrimSpace(x.Factor)), Mode: Mode(strings.TrimSpace(x.Mode))}}
				for v := range strings.SplitSeq(x.Values, ",") {
					if v = strings.TrimSpace(v); v == "" {
						continue
					}
					n, err := strconv.ParseFloat(v, 64)
					if err != nil {
						f.errs = append(f.errs, fmt.Errorf("sampleValues: %q is not a number", v))
						continue
					}
					f.p.Values = append(f.p.Values, n)
				}
				f.p.Duration, err = seconds(strings.TrimSpace(x.Duration))
				if err != nil {
					f.errs = append(f.errs, err)
				}
				found = append(found, f)
			}
		case xml.EndElement:
			depth--
			if t.Name.Local == "cartridge" {
				typ = ""
			}
		}
	}
	if !root {
		return nil, fmt.Errorf("%s: no <mock-iaas> element", name)
	}
	return collect(name, found)
}

// charsetReader reads the encodings Stratos' configuration files declare: ISO-8859-1 (each
// byte is the code point) and the UTF-8 subsets.
func charsetReader(label string, r io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return r, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1":
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		out := make([]rune, len(b))
		for i, c := range b {
			out[i] = rune(c)
		}
		return strings.NewReader(string(out)), nil
	}
	return nil, fmt.Errorf("unsupported encoding %q (UTF-8 or ISO-8859-1)", label)
}

// seconds parses a sampleDuration: whole seconds, as Stratos writes it, or a Go duration.
func seconds(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("sampleDuration is missing")
	}
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("sampleDuration %q: seconds or a duration such as 90s", s)
	}
	return d, nil
}

// yamlPattern is one pattern of the YAML format.
type yamlPattern struct {
	Factor   string    `yaml:"factor"`
	Mode     string    `yaml:"mode"`
	Values   []float64 `yaml:"sampleValues"`
	Duration string    `yaml:"sampleDuration"`
}

func parseYAML(name string, b []byte) (map[string][]Pattern, error) {
	var doc struct {
		Cartridges yaml.Node `yaml:"cartridges"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: no pattern", name)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	m := &doc.Cartridges
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d:%d: cartridges must map cartridge types to lists of patterns", name, m.Line, m.Column)
	}
	var found []patternAt
	var errs []error
	for i := 0; i+1 < len(m.Content); i += 2 {
		typ, list := m.Content[i].Value, m.Content[i+1]
		if list.Kind != yaml.SequenceNode {
			errs = append(errs, fmt.Errorf("%s:%d:%d: cartridge %s: want a list of patterns", name, list.Line, list.Column, typ))
			continue
		}
		for _, n := range list.Content {
			var y yamlPattern
			f := patternAt{typ: typ, line: n.Line, col: n.Column}
			if err := decodeStrict(n, &y); err != nil {
				f.errs = append(f.errs, err)
			}
			f.p = Pattern{Factor: Factor(y.Factor), Mode: Mode(y.Mode), Values: y.Values}
			var err error
			if f.p.Duration, err = seconds(y.Duration); err != nil {
				f.errs = append(f.errs, err)
			}
			found = append(found, f)
		}
	}
	ps, err := collect(name, found)
	if err := errors.Join(append(errs, err)...); err != nil {
		return nil, err
	}
	return ps, nil
}

// decodeStrict decodes a node refusing unknown fields (yaml.Node.Decode does not check them).
func decodeStrict(n *yaml.Node, v any) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return errors.New(strings.Join(te.Errors, "; "))
		}
		return err
	}
	return nil
}
