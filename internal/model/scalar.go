package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Flexible scalars. Gson writes Java numbers and booleans as JSON numbers and booleans, but it also
// reads them from JSON strings, and Stratos samples, the CEP templates and the Python agent rely on
// that. These types marshal the canonical form (a number or a bool) and unmarshal either form. An
// explicit JSON null leaves the value unchanged, as Gson leaves a primitive at its default.

// Int is a Java int: it marshals as a JSON number and unmarshals from a number or a numeric string.
type Int int32

// Long is a Java long: it marshals as a JSON number and unmarshals from a number or a numeric string.
type Long int64

// Float is a Java float or double: it marshals as a JSON number and unmarshals from a number or a
// numeric string. NaN and the infinities, which JSON numbers cannot hold, marshal as the strings
// Java writes ("NaN", "Infinity", "-Infinity").
type Float float64

// Bool is a Java boolean: it marshals as a JSON bool and unmarshals from a bool or the strings
// "true" and "false" (any case).
type Bool bool

// String is a Java String field that some producers fill with a JSON number or bool (Gson reads
// those into a String). It marshals as a JSON string.
type String string

// scalarText returns the text of a JSON scalar: the unquoted content of a string, or the literal
// of a number or bool. isNull reports an explicit null.
func scalarText(b []byte) (text string, quoted, isNull bool, err error) {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		return "", false, false, fmt.Errorf("model: empty json value")
	case string(b) == "null":
		return "", false, true, nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", true, false, err
		}
		return s, true, false, nil
	case b[0] == '{' || b[0] == '[':
		return "", false, false, fmt.Errorf("model: json %s where a scalar was expected", kindOf(b[0]))
	}
	return string(b), false, false, nil
}

func kindOf(c byte) string {
	if c == '{' {
		return "object"
	}
	return "array"
}

// MarshalJSON writes the number.
func (i Int) MarshalJSON() ([]byte, error) { return strconv.AppendInt(nil, int64(i), 10), nil }

// UnmarshalJSON accepts a number, a numeric string or null.
func (i *Int) UnmarshalJSON(b []byte) error {
	s, _, null, err := scalarText(b)
	if err != nil || null {
		return err
	}
	n, err := parseInt(s, 32)
	if err != nil {
		return fmt.Errorf("model: int %q: %w", s, err)
	}
	*i = Int(n)
	return nil
}

// MarshalJSON writes the number.
func (l Long) MarshalJSON() ([]byte, error) { return strconv.AppendInt(nil, int64(l), 10), nil }

// UnmarshalJSON accepts a number, a numeric string or null.
func (l *Long) UnmarshalJSON(b []byte) error {
	s, _, null, err := scalarText(b)
	if err != nil || null {
		return err
	}
	n, err := parseInt(s, 64)
	if err != nil {
		return fmt.Errorf("model: long %q: %w", s, err)
	}
	*l = Long(n)
	return nil
}

// parseInt parses an integer; like Gson it also accepts a number written with a fraction or an
// exponent when its value is integral ("3.0", "1e3").
func parseInt(s string, bits int) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, bits); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	limit := math.Ldexp(1, bits-1)
	if f != math.Trunc(f) || f < -limit || f >= limit {
		return 0, fmt.Errorf("not an integer of %d bits", bits)
	}
	return int64(f), nil
}

// MarshalJSON writes the number, or a string for NaN and the infinities.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.AppendQuote(nil, FormatFloat(v)), nil
	}
	return AppendFloat(nil, v), nil
}

// UnmarshalJSON accepts a number, a numeric string (including Java's "NaN", "Infinity" and
// "-Infinity") or null.
func (f *Float) UnmarshalJSON(b []byte) error {
	s, _, null, err := scalarText(b)
	if err != nil || null {
		return err
	}
	v, err := ParseFloat(s)
	if err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

// ParseFloat parses a decimal number as Java's Double.parseDouble does for the values Stratos
// writes, including "NaN", "Infinity" and "-Infinity".
func ParseFloat(s string) (float64, error) {
	switch s {
	case "NaN":
		return math.NaN(), nil
	case "Infinity", "+Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("model: float %q: %w", s, err)
	}
	return v, nil
}

// FormatFloat writes a float the way ParseFloat and Java read it back: the shortest decimal, or
// "NaN", "Infinity" and "-Infinity".
func FormatFloat(v float64) string { return string(AppendFloat(nil, v)) }

// AppendFloat appends FormatFloat(v) to b without allocating when b has room.
func AppendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "Infinity"...)
	case math.IsInf(v, -1):
		return append(b, "-Infinity"...)
	}
	// Plain decimals, except for very large or small magnitudes, which would be long runs of zeros
	// (the same rule as JavaScript's Number.prototype.toString).
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		return strconv.AppendFloat(b, v, 'e', -1, 64)
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

// MarshalJSON writes true or false.
func (v Bool) MarshalJSON() ([]byte, error) { return strconv.AppendBool(nil, bool(v)), nil }

// UnmarshalJSON accepts a bool, the strings "true" or "false" in any case, or null.
func (v *Bool) UnmarshalJSON(b []byte) error {
	s, _, null, err := scalarText(b)
	if err != nil || null {
		return err
	}
	switch {
	case equalFold(s, "true"):
		*v = true
	case equalFold(s, "false"):
		*v = false
	default:
		return fmt.Errorf("model: bool %q: not true or false", s)
	}
	return nil
}

func equalFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// UnmarshalJSON accepts a string, a number or bool (kept as written), or null.
func (v *String) UnmarshalJSON(b []byte) error {
	s, _, null, err := scalarText(b)
	if err != nil || null {
		return err
	}
	*v = String(s)
	return nil
}

// Properties is a java.util.Properties: a flat JSON object of strings. Decoding also accepts
// numbers and bools as values (kept as written) and drops null values.
type Properties map[string]string

// UnmarshalJSON decodes a flat object, accepting non-string scalar values.
func (p *Properties) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		*p = nil
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("model: properties: %w", err)
	}
	out := make(Properties, len(raw))
	for k, v := range raw {
		s, _, null, err := scalarText(v)
		if err != nil {
			return fmt.Errorf("model: property %q: %w", k, err)
		}
		if !null {
			out[k] = s
		}
	}
	*p = out
	return nil
}

// JSONSchema methods describe the flexible scalars for the REST API's OpenAPI document: the
// canonical JSON type, or a string holding it.

// JSONSchema is Int's OpenAPI schema: an integer, or a string holding one.
func (Int) JSONSchema() map[string]any {
	return numberOrString("integer", "int32")
}

// JSONSchema is Long's OpenAPI schema: an integer, or a string holding one.
func (Long) JSONSchema() map[string]any {
	return numberOrString("integer", "int64")
}

// JSONSchema is Float's OpenAPI schema: a number, or a string holding one ("NaN" and the
// infinities included).
func (Float) JSONSchema() map[string]any {
	return numberOrString("number", "double")
}

// JSONSchema is Bool's OpenAPI schema: a boolean, or the string "true" or "false".
func (Bool) JSONSchema() map[string]any {
	return map[string]any{"oneOf": []any{
		map[string]any{"type": "boolean"},
		map[string]any{"type": "string", "enum": []string{"true", "false"}},
	}}
}

// JSONSchema is String's OpenAPI schema: a string (a number or a boolean is read as its text).
func (String) JSONSchema() map[string]any {
	return map[string]any{"oneOf": []any{
		map[string]any{"type": "string"},
		map[string]any{"type": "number"},
		map[string]any{"type": "boolean"},
	}}
}

// JSONSchema is Properties' OpenAPI schema: an object of strings.
func (Properties) JSONSchema() map[string]any {
	return map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}}
}

func numberOrString(typ, format string) map[string]any {
	return map[string]any{"oneOf": []any{
		map[string]any{"type": typ, "format": format},
		map[string]any{"type": "string", "description": "the " + typ + " as text"},
	}}
}
