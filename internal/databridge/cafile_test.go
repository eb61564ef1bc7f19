package databridge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// CAFileTLS: no file verifies nothing (as Stratos); a file must hold a PEM certificate.
func TestCAFileTLS(t *testing.T) {
	if c, err := CAFileTLS(""); err != nil || !c.InsecureSkipVerify {
		t.Errorf("CAFileTLS(\"\") = %+v, %v; want an unverified configuration", c, err)
	}
	if _, err := CAFileTLS(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Error("CAFileTLS of a missing file: no error")
	}
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := CAFileTLS(junk); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("CAFileTLS of a file without PEM: %v", err)
	}
}
