package model

import (
	"encoding/json"
	"math"
	"testing"
)

func TestFlexibleScalarsDecode(t *testing.T) {
	type doc struct {
		I Int    `json:"i"`
		L Long   `json:"l"`
		F Float  `json:"f"`
		B Bool   `json:"b"`
		S String `json:"s"`
	}
	tests := []struct {
		name    string
		in      string
		want    doc
		wantErr bool
	}{
		{name: "native", in: `{"i":1,"l":1422016262372,"f":0.5,"b":true,"s":"x"}`,
			want: doc{I: 1, L: 1422016262372, F: 0.5, B: true, S: "x"}},
		{name: "strings", in: `{"i":"-2","l":"1422016262372","f":"35.2","b":"TRUE","s":"x"}`,
			want: doc{I: -2, L: 1422016262372, F: 35.2, B: true, S: "x"}},
		{name: "nulls", in: `{"i":null,"l":null,"f":null,"b":null,"s":null}`},
		{name: "integral float for int", in: `{"i":3.0,"l":"1e3"}`, want: doc{I: 3, L: 1000}},
		{name: "number for string", in: `{"s":-1234,"b":"false"}`, want: doc{S: "-1234"}},
		{name: "fraction for int", in: `{"i":1.5}`, wantErr: true},
		{name: "int overflow", in: `{"i":4294967296}`, wantErr: true},
		{name: "word for long", in: `{"l":"soon"}`, wantErr: true},
		{name: "word for bool", in: `{"b":"yes"}`, wantErr: true},
		{name: "object for float", in: `{"f":{}}`, wantErr: true},
		{name: "array for string", in: `{"s":[]}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got doc
			err := json.Unmarshal([]byte(tt.in), &got)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Unmarshal(%s) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Errorf("Unmarshal(%s) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestFlexibleScalarsEncode(t *testing.T) {
	b, err := json.Marshal(struct {
		I Int
		L Long
		F Float
		B Bool
		S String
	}{I: -3, L: 1422016262372, F: 35.25, B: true, S: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"I":-3,"L":1422016262372,"F":35.25,"B":true,"S":"x"}`; got != want {
		t.Errorf("Marshal = %s, want %s", got, want)
	}
	for _, tt := range []struct {
		f    float64
		want string
	}{
		{f: math.NaN(), want: `"NaN"`},
		{f: math.Inf(1), want: `"Infinity"`},
		{f: math.Inf(-1), want: `"-Infinity"`},
		{f: 1e20, want: `100000000000000000000`},
		{f: 1e21, want: `1e+21`},
		{f: -2.5e-7, want: `-2.5e-07`},
		{f: 0.000001, want: `0.000001`},
		{f: 0, want: `0`},
	} {
		b, err := json.Marshal(Float(tt.f))
		if err != nil || string(b) != tt.want {
			t.Errorf("Marshal(Float(%v)) = %s, %v; want %s", tt.f, b, err, tt.want)
		}
		var back Float
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("Unmarshal(%s): %v", b, err)
		} else if !(math.IsNaN(tt.f) && math.IsNaN(float64(back))) && float64(back) != tt.f {
			t.Errorf("Unmarshal(%s) = %v, want %v", b, back, tt.f)
		}
	}
}

func TestPropertiesDecode(t *testing.T) {
	var p Properties
	if err := json.Unmarshal([]byte(`{"a":"x","b":1,"c":true,"d":null}`), &p); err != nil {
		t.Fatal(err)
	}
	if len(p) != 3 || p["a"] != "x" || p["b"] != "1" || p["c"] != "true" {
		t.Errorf("Properties = %v", p)
	}
	if err := json.Unmarshal([]byte(`{"a":{"nested":1}}`), &p); err == nil {
		t.Error("nested object accepted as a property value")
	}
	if err := json.Unmarshal([]byte(`null`), &p); err != nil || p != nil {
		t.Errorf("null properties = %v, %v", p, err)
	}
}
