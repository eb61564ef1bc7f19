package model

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// sampleDir holds unchanged copies of Apache Stratos samples (see its README.md).
var sampleDir = filepath.Join("testdata", "cartridge-samples")

func sampleFiles(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(sampleDir, pattern))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no sample matches %s", pattern)
	}
	return files
}

func TestCartridgeSamples(t *testing.T) {
	for _, f := range sampleFiles(t, "cartridges__*.json") {
		t.Run(f, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var c Cartridge
			if err := json.Unmarshal(b, &c); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
			if c.Type == "" || len(c.PortMapping) == 0 || c.IaasProviderOf("mock") == nil {
				t.Fatalf("decoded too little: %+v", c)
			}
			// What we write decodes to the same value.
			out, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			var again Cartridge
			if err := json.Unmarshal(out, &again); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(c, again); d != "" {
				t.Errorf("round trip (-first +second):\n%s", d)
			}
		})
	}
}

func TestCartridgePHPSample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(sampleDir, "cartridges__mock__php.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c Cartridge
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.MultiTenant || c.Version != "7" || c.Host != "php.stratos.org" {
		t.Errorf("scalars: %+v", c)
	}
	want := PortMap{8280: {Protocol: "http", Value: 8080, Proxy: 8280}, 8222: {Protocol: "tcp", Value: 22, Proxy: 8222}}
	if d := cmp.Diff(want, c.PortMap()); d != "" {
		t.Errorf("port map (-want +got):\n%s", d)
	}
	p := c.IaasProviderOf("mock")
	if v, _ := LookupProperty(p.Property, "keyPair"); v != "reka" {
		t.Errorf("keyPair = %q", v)
	}
	if len(p.NetworkInterfaces) != 1 || p.NetworkInterfaces[0].NetworkUUID != "b55f009a-1cc6-4b17-924f-4ae0ee18db5e" {
		t.Errorf("network interfaces: %+v", p.NetworkInterfaces)
	}
}

func TestCartridgePersistenceKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		json string
		want bool
	}{
		{name: "required", json: `{"required":"true","volume":[{"device":"/dev/sdc","size":"10"}]}`, want: true},
		{name: "isRequired", json: `{"isRequired":true,"volume":[{"device":"/dev/sdc","size":10}]}`, want: true},
		{name: "neither", json: `{"volume":[]}`, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p Persistence
			if err := json.Unmarshal([]byte(tc.json), &p); err != nil {
				t.Fatal(err)
			}
			if bool(p.Required) != tc.want {
				t.Errorf("required = %v, want %v", p.Required, tc.want)
			}
		})
	}
}

func TestCartridgeValidate(t *testing.T) {
	valid := func() Cartridge {
		return Cartridge{
			Type:         "php",
			PortMapping:  []PortMapping{{Protocol: "http", Port: 8080, ProxyPort: 8280}},
			IaasProvider: []IaasProvider{{Type: "mock"}},
			Property:     []NameValue{{Name: "payload_parameter.LOG_LEVEL", Value: "DEBUG"}},
		}
	}
	for _, tc := range []struct {
		name   string
		change func(*Cartridge)
		want   []string // substrings, one per expected problem
	}{
		{name: "valid", change: func(*Cartridge) {}},
		{name: "port out of range", change: func(c *Cartridge) { c.PortMapping[0].Port = 70000 },
			want: []string{"port 70000 out of range"}},
		{name: "every problem", change: func(c *Cartridge) {
			c.Type = "bad type"
			c.PortMapping = append(c.PortMapping, PortMapping{Port: 0, ProxyPort: 8280})
			c.IaasProvider = nil
			c.Property = append(c.Property, NameValue{Name: "payload_parameter.X", Value: "a,b"})
			c.Persistence = &Persistence{Required: true}
		}, want: []string{`type "bad type"`, "portMapping[1]: protocol is required", "portMapping[1]: port 0",
			"proxyPort 8280 already used", "at least one iaasProvider", "must not contain ','",
			"required but no volume"}},
		{name: "load balancing ip type", change: func(c *Cartridge) { c.LoadBalancingIPType = "elastic" },
			want: []string{"loadBalancingIPType"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidCartridge) {
				t.Fatalf("error %v does not wrap ErrInvalidCartridge", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if n := len(strings.Split(err.Error(), "\n")); n != len(tc.want) {
				t.Errorf("%d problems reported, want %d:\n%v", n, len(tc.want), err)
			}
		})
	}
}

func TestCartridgeNetworkPartitionSamples(t *testing.T) {
	for _, f := range sampleFiles(t, "network-partitions__*.json") {
		t.Run(f, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var np NetworkPartition
			if err := json.Unmarshal(b, &np); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if err := np.Validate(); err != nil {
				t.Fatalf("validate: %v", err)
			}
			if np.Provider != "mock" || len(np.Partitions) == 0 {
				t.Fatalf("decoded too little: %+v", np)
			}
			if v, ok := LookupProperty(np.Partitions[0].Property, "region"); !ok || v != "default" {
				t.Errorf("region = %q, %v", v, ok)
			}
		})
	}
}

func TestCartridgeNetworkPartitionValidate(t *testing.T) {
	np := NetworkPartition{Partitions: []Partition{{ID: "p1"}, {ID: "p1"}, {ID: ""}},
		Properties: []NameValue{{Name: "payload_parameter.MB_URLS", Value: "a=b"}}}
	err := np.Validate()
	for _, w := range []string{"id \"\"", "provider is required", "already used by partitions[0]",
		"partitions[2]: id", "must not contain"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
	if !errors.Is(err, ErrInvalidNetworkPartition) {
		t.Errorf("error does not wrap ErrInvalidNetworkPartition: %v", err)
	}
	if got := PayloadParameters(np.Properties); got.String() != "MB_URLS=a=b" {
		t.Errorf("payload parameters = %q", got.String())
	}
}

// FuzzCartridgeDecode feeds arbitrary bytes to the cartridge and network-partition decoders:
// no panic, and a valid definition survives marshal and decode unchanged.
func FuzzCartridgeDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(sampleDir, "*.json"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"type":"x","persistence":{"isRequired":"true","volume":[{"size":"1","device":"/d"}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Cartridge
		if json.Unmarshal(b, &c) == nil && c.Validate() == nil {
			out, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			var again Cartridge
			if err := json.Unmarshal(out, &again); err != nil {
				t.Fatalf("re-decode %s: %v", out, err)
			}
			if d := cmp.Diff(c, again, cmpopts.EquateEmpty()); d != "" {
				t.Fatalf("round trip (-first +second):\n%s", d)
			}
		}
		var np NetworkPartition
		if json.Unmarshal(b, &np) == nil {
			_ = np.Validate()
		}
	})
}
