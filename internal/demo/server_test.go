package demo

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServe serves the demo page and, with a root, the files under it but not its dot files;
// every answer names its member, and the server stops when its context ends.
func TestServe(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte("hello from the artifacts\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, ".git", "config"), []byte("secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, root, path string
		status           int
		body             string
	}{
		{name: "demo page", path: "/", status: http.StatusOK, body: "<h1>Served by member m-7</h1>"},
		{name: "artifact", root: root, path: "/", status: http.StatusOK, body: "hello from the artifacts"},
		{name: "dot file", root: root, path: "/.git/config", status: http.StatusNotFound, body: "404 page not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var out strings.Builder
			done := make(chan error, 1)
			go func() { done <- Serve(ctx, ServerOptions{Listener: ln, Member: "m-7", Root: tc.root, Out: &out}) }()
			resp, err := http.Get("http://" + ln.Addr().String() + tc.path)
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.body) || resp.Header.Get(MemberHeader) != "m-7" {
				t.Errorf("GET %s: %s, %s %q, body %q; want %d, member m-7, a body with %q",
					tc.path, resp.Status, MemberHeader, resp.Header.Get(MemberHeader), b, tc.status, tc.body)
			}
			if !strings.Contains(out.String(), "strata demo-server: member m-7 on "+ln.Addr().String()) ||
				!strings.Contains(out.String(), "strata demo-server: stopped after 1 requests") {
				t.Errorf("server lines:\n%s", out.String())
			}
		})
	}
}
