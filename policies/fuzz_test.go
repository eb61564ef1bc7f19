package policies

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the YAML policy decoder and the Stratos JSON decoder. They
// must not panic, must not hang, and every problem they report must carry a position.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{validNP, validAS, validDep, validAS + "rules:\n  - scaleUp: active > 1\n",
		"---\n---\nkind: x\n", "a: &a [*a]\n", "kind: NetworkPartition\npartitions: [{properties: [{name: a}]}]\n"} {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob(filepath.Join(examplesDir, "*.yaml"))
	samples, _ := filepath.Glob(filepath.Join(samplesDir, "*polic*.json"))
	for _, p := range append(files, samples...) {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := DecodeYAML("f.yaml", data)
		check(t, ps, err)
		for _, k := range []Kind{KindAutoscaling, KindDeployment, KindApplication, KindNetworkPartition} {
			p, err := DecodeStratosJSON(k, data)
			if err == nil {
				ps = []Policy{p}
			} else {
				ps = nil
			}
			check(t, ps, err)
		}
		_, err = DecodeFixtures("f_test.yaml", data, nil)
		check(t, nil, err)
	})
}

func check(t *testing.T, ps []Policy, err error) {
	t.Helper()
	if err == nil {
		for _, p := range ps {
			if p == nil {
				t.Fatal("nil policy without an error")
			}
		}
		return
	}
	if len(Errors(err)) == 0 {
		t.Fatalf("error without a position: %v", err)
	}
}
