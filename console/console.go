package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/strata-paas/strata/internal/model"
)

//go:embed assets templates
var files embed.FS

// SubscribeFunc subscribes handler to the bus topics matching filter (MQTT wildcards) until
// ctx ends.
type SubscribeFunc func(ctx context.Context, filter string, handler func(topic string, payload []byte)) error

// Options configure the console. API is required.
type Options struct {
	// API is the REST API's handler: the console calls it in process with its users' tokens.
	API http.Handler
	// Subscribe feeds the live updates with topology events; nil: pages do not update live.
	Subscribe SubscribeFunc
	// Logger receives the console's logs; nil discards them.
	Logger *slog.Logger
	// SessionIdle ends a session unused for that long (0: 8 h).
	SessionIdle time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Console serves the web console. Run feeds its live updates.
type Console struct {
	opts     Options
	log      *slog.Logger
	pages    map[string]*template.Template
	sessions *sessions
	hub      *hub
	handler  http.Handler
}

// New builds the console.
func New(o Options) (*Console, error) {
	if o.API == nil {
		return nil, errors.New("console: options: API is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SessionIdle == 0 {
		o.SessionIdle = 8 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c := &Console{opts: o, log: o.Logger.With("component", "console"), pages: pages,
		sessions: newSessions(), hub: newHub()}
	c.handler = c.routes()
	return c, nil
}

// ServeHTTP serves the console's pages.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) { c.handler.ServeHTTP(w, r) }

// Run forwards the bus's topology events to the browsers and ends idle sessions (revoking their
// API tokens) until ctx ends; then it closes the event streams (so the HTTP server's shutdown
// does not wait for them) and revokes the API tokens of the open sessions.
func (c *Console) Run(ctx context.Context) error {
	defer c.hub.close()
	if c.opts.Subscribe != nil {
		// Topic by topic, not topology/#: the complete topology (~90 MB at 100 000 members)
		// tells the browsers nothing the events did not.
		for _, topic := range model.TopologyTopics() {
			err := c.opts.Subscribe(ctx, topic, func(topic string, _ []byte) {
				c.hub.publish(model.ClassForTopic(topic))
			})
			if err != nil {
				return fmt.Errorf("console: subscribe to the topology: %w", err)
			}
		}
	}
	sweep := time.NewTicker(min(c.opts.SessionIdle, 10*time.Minute))
	defer sweep.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-sweep.C:
			for _, s := range c.sessions.expire(c.opts.Now(), c.opts.SessionIdle) {
				c.revoke(ctx, s)
			}
		}
	}
	for _, s := range c.sessions.drain() {
		c.revoke(context.WithoutCancel(ctx), s)
	}
	return nil
}

// routes lists every route of the console.
func (c *Console) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(securityHeaders)
	static, _ := fs.Sub(files, "assets")
	r.Handle("/assets/*", http.StripPrefix("/assets/", http.FileServerFS(static)))
	r.Get("/login", c.getLogin)
	r.Post("/login", c.postLogin)
	r.Group(func(r chi.Router) {
		r.Use(c.authenticate)
		r.Get("/", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/apps", http.StatusSeeOther) })
		r.Get("/events", c.events)
		r.Get("/apps", c.appsPage)
		r.Get("/apps/{app}", c.appPage)
		r.Get("/apps/{app}/tree", c.treeFragment)
		r.Get("/apps/{app}/clusters/{cluster}", c.clusterPage)
		r.Get("/apps/{app}/clusters/{cluster}/decisions", c.decisionsPage)
		r.Get("/policies", c.policiesPage)
		r.Group(func(r chi.Router) {
			r.Use(c.checkCSRF)
			r.Post("/logout", c.postLogout)
			r.Post("/apps/{app}/deploy", c.action(deployAction))
			r.Post("/apps/{app}/undeploy", c.action(undeployAction))
			r.Post("/apps/{app}/clusters/{cluster}/scale", c.scaleAction)
			r.Post("/apps/{app}/clusters/{cluster}/members/{member}/terminate", c.terminateAction)
		})
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, "no such page: "+r.URL.Path)
	})
	return r
}

// securityHeaders keeps the pages out of frames and limits what they load to this origin.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// hub fans topology events out to the open event streams.
type hub struct {
	mu     sync.Mutex
	subs   map[chan string]struct{}
	done   chan struct{}
	closed bool
}

func newHub() *hub { return &hub{subs: map[chan string]struct{}{}, done: make(chan struct{})} }

// subscribe returns a channel of event names and the function that ends the subscription.
func (h *hub) subscribe() (<-chan string, func()) {
	ch := make(chan string, 16)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

// publish hands name to every stream; a stream whose buffer is full already has an update to
// send, which is all the page needs to know.
func (h *hub) publish(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- name:
		default:
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

// events streams topology event names to the browser (server-sent events) until the browser
// goes away or Run ends.
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	// The API's middleware wraps the writer; the controller reaches the connection through it.
	rc := http.NewResponseController(w)
	ch, cancel := c.hub.subscribe()
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, "retry: 2000\n\n")
	if err := rc.Flush(); err != nil {
		c.log.Warn("console event stream cannot be flushed", "err", err)
		return
	}
	keepAlive := time.NewTicker(20 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.hub.done:
			return
		case <-keepAlive.C:
			_, _ = fmt.Fprint(w, ": keep-alive\n\n")
		case name := <-ch:
			if _, err := fmt.Fprintf(w, "event: topology\ndata: %s\n\n", name); err != nil {
				return
			}
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
