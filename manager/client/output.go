package client

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"
)

// Encode writes v as YAML when format is "yaml", as JSON otherwise (a table falls back to JSON
// for values without one). YAML is written through JSON, so that it has the same (camelCase)
// keys as JSON.
func Encode(w io.Writer, format string, v any) error {
	if format != "yaml" {
		return json.NewEncoder(w).Encode(v)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return err
	}
	out, err := yaml.Marshal(generic)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

// WriteTable writes items of kind k as a table of the kind's columns; a missing value is "-".
func WriteTable(w io.Writer, k Kind, items []map[string]any) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.ToUpper(strings.Join(k.Cols, "\t")))
	for _, it := range items {
		var row []string
		for _, col := range k.Cols {
			row = append(row, cell(it[col]))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

func cell(v any) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(v)
}
