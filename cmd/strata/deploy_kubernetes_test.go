package main

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDeployKubernetesArgs: the StatefulSet of deploy/kubernetes/strata.yaml runs `strata up` with
// flags strata up has, listening on every interface, and probes paths the REST listener serves.
// (The API server's dry run of the manifests is controller/kubernetes/kubetest's
// TestManifestsDryRun.)
func TestDeployKubernetesArgs(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join(deployDir, "kubernetes", "strata.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type probe struct {
		HTTPGet struct {
			Path string `yaml:"path"`
			Port string `yaml:"port"`
		} `yaml:"httpGet"`
	}
	var container struct {
		Args  []string `yaml:"args"`
		Ports []struct {
			Name string `yaml:"name"`
			Port int    `yaml:"containerPort"`
		} `yaml:"ports"`
		Startup   *probe `yaml:"startupProbe"`
		Liveness  *probe `yaml:"livenessProbe"`
		Readiness *probe `yaml:"readinessProbe"`
	}
	dec := yaml.NewDecoder(f)
	found := false
	for {
		var doc struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers []yaml.Node `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("strata.yaml: %v", err)
		}
		if doc.Kind != "StatefulSet" {
			continue
		}
		if len(doc.Spec.Template.Spec.Containers) != 1 {
			t.Fatalf("the StatefulSet has %d containers, want 1", len(doc.Spec.Template.Spec.Containers))
		}
		if err := doc.Spec.Template.Spec.Containers[0].Decode(&container); err != nil {
			t.Fatalf("the StatefulSet's container: %v", err)
		}
		found = true
	}
	if !found {
		t.Fatal("strata.yaml has no StatefulSet")
	}
	if len(container.Args) == 0 || container.Args[0] != "up" {
		t.Fatalf("args %q: want strata up", container.Args)
	}
	var cfg upConfig
	fs := flag.NewFlagSet("strata up", flag.ContinueOnError)
	cfg.flags(fs)
	known := map[string]bool{}
	fs.VisitAll(func(fl *flag.Flag) { known[fl.Name] = true })
	flags := splitFlagArgs(t, container.Args[1:])
	checkUpFlags(t, "strata.yaml", known, flags, []string{"api", "thrift", "thrift-tls", "lb-host"})
	if v := flags["data-dir"]; v != "/var/lib/strata" {
		t.Errorf("--data-dir %q, want the volume's mount /var/lib/strata", v)
	}
	if !strings.HasPrefix(flags["broker"], "$(") || !strings.HasPrefix(flags["clickhouse"], "$(") {
		t.Errorf("--broker %q, --clickhouse %q: want the external ones from the config", flags["broker"], flags["clickhouse"])
	}
	api := ""
	for _, p := range container.Ports {
		if p.Port == 9763 {
			api = p.Name
		}
	}
	for name, p := range map[string]*probe{"startup": container.Startup, "liveness": container.Liveness, "readiness": container.Readiness} {
		want := "/healthz"
		if name == "readiness" {
			want = "/readyz"
		}
		if p == nil || p.HTTPGet.Path != want || p.HTTPGet.Port != api || api == "" {
			t.Errorf("%s probe %+v: want GET %s on the API port (%q)", name, p, want, api)
		}
	}
}
