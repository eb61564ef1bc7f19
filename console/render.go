package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
)

// pageNames are the templates under templates/ that are whole pages (each with layout.html).
var pageNames = []string{"login", "apps", "app", "cluster", "decisions", "policies", "confirm", "error"}

var funcs = template.FuncMap{
	"stateClass": stateClass,
	"join":       strings.Join,
	"pathEscape": url.PathEscape,
	"ago": func(now, t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return now.Sub(t).Round(time.Second).String()
	},
	// dur writes 15m0s as 15m and 1h0m0s as 1h.
	"dur": func(d time.Duration) string {
		out := d.String()
		if strings.HasSuffix(out, "m0s") {
			out = strings.TrimSuffix(out, "0s")
		}
		if strings.HasSuffix(out, "h0m") {
			out = strings.TrimSuffix(out, "0m")
		}
		return out
	},
	"utc": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, errors.New("dict: odd number of arguments")
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
}

// parsePages parses each page with the layout and the shared fragments.
func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/fragments.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: parse template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// view is what every page template gets: the session (nil on the login page) and the page's data.
type view struct {
	S    *session
	Data any
	Now  time.Time
}

// render writes a whole page; it is rendered into a buffer first, so a template error is a 500
// rather than half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, code int, name string, data any) {
	c.execute(w, r, code, c.pages[name], "layout", data)
}

// renderFragment writes the named fragment alone (the live tree).
func (c *Console) renderFragment(w http.ResponseWriter, r *http.Request, name string, data any) {
	c.execute(w, r, http.StatusOK, c.pages["app"], name, data)
}

func (c *Console) execute(w http.ResponseWriter, r *http.Request, code int, t *template.Template, name string, data any) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, name, view{S: sessionFrom(r.Context()), Data: data, Now: c.opts.Now().UTC()}); err != nil {
		c.log.Error("console page not rendered", "template", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

// fail shows an error page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, code int, msg string) {
	c.render(w, r, code, "error", map[string]any{"Code": code, "Status": http.StatusText(code), "Message": msg})
}

// apiFailed shows the API's refusal with its status, or a 502 for anything else.
func (c *Console) apiFailed(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		c.fail(w, r, ae.Code, "the API answered: "+ae.Message)
		return
	}
	c.fail(w, r, http.StatusBadGateway, err.Error())
}

// actionKind is an operator action of the application page.
type actionKind int

const (
	deployAction actionKind = iota
	undeployAction
)

// action performs an action as a REST call with the session's token, after the user confirmed
// it on a page of its own: the first POST (without confirm=yes) shows that page.
func (c *Console) action(kind actionKind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := sessionFrom(r.Context())
		appID := chi.URLParam(r, "app")
		policy := r.PostFormValue("policy")
		verb, path := "undeploy", "/api/applications/"+url.PathEscape(appID)+"/undeploy"
		if kind == deployAction {
			verb, path = "deploy", "/api/applications/"+url.PathEscape(appID)+"/deploy/"+url.PathEscape(policy)
		}
		if r.PostFormValue("confirm") != "yes" {
			q := verb + " application " + appID + "?"
			if policy != "" {
				q = verb + " application " + appID + " with application policy " + policy + "?"
			}
			appPage := "/apps/" + url.PathEscape(appID)
			c.render(w, r, http.StatusOK, "confirm", confirmation{Action: appPage + "/" + verb, Verb: verb, Question: q,
				Hidden: []hiddenField{{"policy", policy}}, Cancel: appPage})
			return
		}
		if err := c.api(r.Context(), s.creds(), http.MethodPost, path, nil, nil); err != nil {
			c.apiFailed(w, r, err)
			return
		}
		c.log.Info("console action done", "action", verb, "application", appID, "user", s.user, "tenant", s.tenant)
		http.Redirect(w, r, "/apps/"+url.PathEscape(appID), http.StatusSeeOther)
	}
}
