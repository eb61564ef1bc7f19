package model

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A launch-params line like the Python agent's integration tests use (PCAIT AgentStartupTestCase).
const sampleLaunchParams = "APPLICATION_ID=application1,SERVICE_NAME=php,HOST_NAME=php.php.stratos.org," +
	"MULTITENANT=false,TENANT_ID=-1234,TENANT_RANGE=*,CARTRIDGE_ALIAS=php,CLUSTER_ID=php.php.domain," +
	"CLUSTER_INSTANCE_ID=cluster-1-instance-1,CARTRIDGE_KEY=PUjpXCLujDhYr5A6,DEPLOYMENT=default,REPO_URL=," +
	"PORTS=80|8080,PORT_MAPPINGS=NAME:http-80|PROTOCOL:http|PORT:80|PROXY_PORT:8280|TYPE:NodePort," +
	"PUPPET_IP=127.0.0.1,PUPPET_HOSTNAME=puppet.apache.stratos.org,PUPPET_ENV=stratos,MEMBER_ID=new-member," +
	"LB_CLUSTER_ID=null,NETWORK_PARTITION_ID=network-p1,PARTITION_ID=p1,APPLICATION_PATH=/tmp/AgentStartupTestCase," +
	"MIN_COUNT=1,INTERNAL=false,CLUSTERING_PRIMARY_KEY=A,LOG_FILE_PATHS=/tmp/agent.screen-AgentStartupTestCase.log," +
	"PERSISTENCE_MAPPING=null,MB_URLS=localhost:1885,MB_IP=localhost,MB_PORT=1885," +
	"CEP_URLS=localhost:7712,CEP_USERNAME=admin,CEP_PASSWORD=admin"

func TestPayloadRoundTrip(t *testing.T) {
	p, err := ParsePayload(strings.NewReader(sampleLaunchParams + "\n"))
	if err != nil {
		t.Fatalf("ParsePayload: %v", err)
	}
	if got := p.String(); got != sampleLaunchParams {
		t.Errorf("String() = %q\nwant      %q", got, sampleLaunchParams)
	}
	var b strings.Builder
	n, err := p.WriteTo(&b)
	if err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	if n != int64(b.Len()) || b.String() != sampleLaunchParams+"\n" {
		t.Errorf("WriteTo wrote %d bytes %q", n, b.String())
	}
	again, err := ParsePayload(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(p, again); diff != "" {
		t.Errorf("round trip (-first +second):\n%s", diff)
	}
	if v, ok := p.Get(PayloadPortMappings); !ok || v != "NAME:http-80|PROTOCOL:http|PORT:80|PROXY_PORT:8280|TYPE:NodePort" {
		t.Errorf("PORT_MAPPINGS = %q, %v", v, ok)
	}
	if v, ok := p.Get(PayloadRepoURL); !ok || v != "" {
		t.Errorf("REPO_URL = %q, %v; want present and empty", v, ok)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestPayloadSetDelete(t *testing.T) {
	var p Payload
	p.Set(PayloadApplicationID, "a")
	p.Set(PayloadServiceName, "php")
	p.Set(PayloadApplicationID, "b")
	if got, want := p.String(), "APPLICATION_ID=b,SERVICE_NAME=php"; got != want {
		t.Errorf("after Set: %q, want %q", got, want)
	}
	p.Delete(PayloadApplicationID)
	if got, want := p.String(), "SERVICE_NAME=php"; got != want {
		t.Errorf("after Delete: %q, want %q", got, want)
	}
	if m := p.Map(); m[PayloadServiceName] != "php" || len(m) != 1 {
		t.Errorf("Map = %v", m)
	}
}

func TestParsePayloadMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   string
		line int
		key  string
	}{
		{name: "value with equals", in: "A=1,TOKEN=abc=def,B=2", line: 1, key: "TOKEN"},
		{name: "pair without equals", in: "A=1,BROKEN,B=2", line: 1, key: "BROKEN"},
		{name: "empty key", in: "A=1,=x", line: 1, key: ""},
		{name: "padded key", in: "A=1, B=2", line: 1, key: " B"},
		{name: "repeated key", in: "A=1,B=2,A=3", line: 1, key: "A"},
		{name: "trailing comma", in: "A=1,B=2,", line: 1, key: ""},
		{name: "second line", in: "A=1\nB=2\n", line: 2, key: "B"},
		{name: "second line after blank", in: "\nA=1\n\nC=3", line: 4, key: "C"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePayload(strings.NewReader(tt.in))
			if err == nil {
				t.Fatalf("ParsePayload(%q) = %v, want an error", tt.in, p)
			}
			if !errors.Is(err, ErrPayload) {
				t.Errorf("error %v does not wrap ErrPayload", err)
			}
			var pe *PayloadError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *PayloadError", err)
			}
			if pe.Line != tt.line || pe.Key != tt.key {
				t.Errorf("error at line %d key %q, want line %d key %q (%v)", pe.Line, pe.Key, tt.line, tt.key, err)
			}
			if msg := err.Error(); !strings.Contains(msg, "line") || !strings.Contains(msg, `"`+tt.key+`"`) {
				t.Errorf("error %q does not name the line and key", msg)
			}
		})
	}
}

func TestParsePayloadLenientEdges(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Payload
	}{
		{name: "empty file", in: "", want: nil},
		{name: "crlf", in: "A=1,B=\r\n", want: Payload{{Key: "A", Value: "1"}, {Key: "B", Value: ""}}},
		{name: "value with spaces", in: "A=x y", want: Payload{{Key: "A", Value: "x y"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePayload(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPayloadWriteToRefusesMisreadableValues(t *testing.T) {
	for _, p := range []Payload{
		{{Key: "A", Value: "x,y"}},
		{{Key: "A", Value: "x=y"}},
		{{Key: "A", Value: "x\ny"}},
		{{Key: "", Value: "x"}},
		{{Key: "A", Value: "1"}, {Key: "A", Value: "2"}},
	} {
		var b strings.Builder
		if _, err := p.WriteTo(&b); err == nil || b.Len() != 0 {
			t.Errorf("WriteTo(%q) = %v and wrote %q, want an error and nothing written", p.String(), err, b.String())
		}
	}
}

func TestPayloadValidate(t *testing.T) {
	full := Payload{
		{Key: PayloadApplicationID, Value: "app"}, {Key: PayloadServiceName, Value: "php"},
		{Key: PayloadClusterID, Value: "c"}, {Key: PayloadPorts, Value: "80"},
		{Key: PayloadMultitenant, Value: "false"}, {Key: PayloadTenantID, Value: "-1234"},
		{Key: PayloadMBIP, Value: "10.0.0.1"}, {Key: PayloadMBPort, Value: "1883"},
		{Key: PayloadCEPURLs, Value: "10.0.0.1:7711"},
		{Key: PayloadCEPAdminUsername, Value: "admin"}, {Key: PayloadCEPAdminPassword, Value: "admin"},
	}
	if err := full.Validate(); err != nil {
		t.Errorf("Validate(full) = %v", err)
	}

	var empty Payload
	want := []string{PayloadApplicationID, PayloadServiceName, PayloadClusterID, PayloadPorts,
		PayloadMultitenant, PayloadTenantID, "MB_URLS|MB_IP+MB_PORT", "CEP_URLS|CEP_IP+CEP_PORT",
		"CEP_USERNAME+CEP_PASSWORD|CEP_ADMIN_USERNAME+CEP_ADMIN_PASSWORD"}
	if diff := cmp.Diff(want, empty.Missing()); diff != "" {
		t.Errorf("Missing(empty) (-want +got):\n%s", diff)
	}
	err := empty.Validate()
	for _, k := range want {
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("Validate(empty) = %v, does not name %s", err, k)
		}
	}

	withRepo := append(Payload(nil), full...)
	withRepo.Set(PayloadRepoURL, "https://example.com/r.git")
	withRepo.Set(PayloadTenantID, "null") // "null" counts as absent
	if diff := cmp.Diff([]string{PayloadTenantID, PayloadCartridgeKey}, withRepo.Missing()); diff != "" {
		t.Errorf("Missing(withRepo) (-want +got):\n%s", diff)
	}
}
