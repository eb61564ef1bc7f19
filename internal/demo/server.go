package demo

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// MemberHeader names the member that served a request of the demo server.
const MemberHeader = "X-Strata-Member"

// ServerOptions is what `strata demo-server` is told by its flags.
type ServerOptions struct {
	Listener net.Listener
	Burn     time.Duration // CPU time burnt per request
	Wait     time.Duration // time waited per request after burning, as for a backend call
	Member   string        // the member id shown on the page and in MemberHeader
	Root     string        // serve the files under this directory instead of the demo page; "" for the page
	Out      io.Writer     // the start and stop lines
}

// Serve is the demo cartridge's server: every request burns CPU for o.Burn, then waits o.Wait,
// then answers with a page naming its member (or a file under o.Root; dot files are not
// served). It returns nil after ctx ended and the server shut down, or the server's error.
func Serve(ctx context.Context, o ServerOptions) error {
	var served atomic.Int64
	var files http.Handler
	if o.Root != "" {
		files = http.FileServer(http.Dir(o.Root))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		burnCPU(o.Burn)
		select {
		case <-time.After(o.Wait):
		case <-r.Context().Done():
			return
		}
		n := served.Add(1)
		w.Header().Set(MemberHeader, o.Member)
		if files != nil {
			if strings.Contains(r.URL.Path, "/.") { // .git and other dot files stay private
				http.NotFound(w, r)
				return
			}
			files.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><title>Strata demo</title><h1>Served by member %s</h1><p>%s, request %d, %s</p>\n",
			o.Member, o.Listener.Addr(), n, time.Since(t0).Round(time.Millisecond))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(o.Listener) }()
	fmt.Fprintf(o.Out, "strata demo-server: member %s on %s (burn %s, wait %s)\n", o.Member, o.Listener.Addr(), o.Burn, o.Wait)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	fmt.Fprintf(o.Out, "strata demo-server: stopped after %d requests\n", served.Load())
	return nil
}

// burnCPU spins for d of wall-clock time.
func burnCPU(d time.Duration) {
	x := 1.0
	for t0 := time.Now(); time.Since(t0) < d; {
		for range 1000 {
			x = math.Sqrt(x + 1.0001)
		}
	}
	burnSink.Store(math.Float64bits(x))
}

var burnSink atomic.Uint64
