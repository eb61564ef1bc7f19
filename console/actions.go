package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"
)

// The cluster page's actions: change the cluster's min and max (PUT /api/applications with the
// application's definition, min and max changed: the running cluster follows) and terminate a
// member (DELETE /api/applications/{appId}/members/{memberId}). Like deploy and undeploy, each
// is confirmed on a page of its own and is a REST call with the user's token.

// confirmation is the confirm page: a form posting Hidden and confirm=yes back to Action.
type confirmation struct {
	Action, Verb, Question, Cancel string
	Hidden                         []hiddenField
}

type hiddenField struct{ Name, Value string }

func clusterPath(appID, clusterID string) string {
	return "/apps/" + url.PathEscape(appID) + "/clusters/" + url.PathEscape(clusterID)
}

// scaleAction sets the min and max of the cluster's cartridge in the application's definition.
func (c *Console) scaleAction(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r.Context())
	appID, clusterID := chi.URLParam(r, "app"), chi.URLParam(r, "cluster")
	lo, err1 := strconv.Atoi(r.PostFormValue("min"))
	hi, err2 := strconv.Atoi(r.PostFormValue("max"))
	if err := errors.Join(err1, err2); err != nil || lo < 0 || hi < lo {
		c.fail(w, r, http.StatusBadRequest, fmt.Sprintf("min %q and max %q: want whole numbers with 0 <= min <= max", r.PostFormValue("min"), r.PostFormValue("max")))
		return
	}
	a, rt, err := c.application(r.Context(), s, appID)
	if err != nil {
		c.apiFailed(w, r, err)
		return
	}
	var alias string
	for _, iv := range buildTree(a, rt) {
		for _, cl := range allClusters(iv) {
			if cl.ClusterID == clusterID {
				alias = cl.Alias
			}
		}
	}
	if alias == "" {
		c.fail(w, r, http.StatusNotFound, "no cluster "+clusterID+" in application "+appID)
		return
	}
	page := clusterPath(appID, clusterID)
	if r.PostFormValue("confirm") != "yes" {
		c.render(w, r, http.StatusOK, "confirm", confirmation{Action: page + "/scale", Verb: "scale",
			Question: fmt.Sprintf("Set min %d and max %d for cluster %s (alias %s) of application %s? The running cluster follows: members start up to min, those above max are terminated.", lo, hi, clusterID, alias, appID),
			Hidden:   []hiddenField{{"min", strconv.Itoa(lo)}, {"max", strconv.Itoa(hi)}}, Cancel: page})
		return
	}
	var def json.RawMessage
	if err := c.api(r.Context(), s.creds(), http.MethodGet, "/api/applications/"+url.PathEscape(appID), nil, &def); err != nil {
		c.apiFailed(w, r, err)
		return
	}
	updated, err := withMinMax(def, alias, lo, hi)
	if err != nil {
		c.fail(w, r, http.StatusBadGateway, err.Error())
		return
	}
	if err := c.api(r.Context(), s.creds(), http.MethodPut, "/api/applications", updated, nil); err != nil {
		c.apiFailed(w, r, err)
		return
	}
	c.log.Info("console action done", "action", "scale", "application", appID, "cluster", clusterID, "min", lo, "max", hi, "user", s.user, "tenant", s.tenant)
	http.Redirect(w, r, page, http.StatusSeeOther)
}

// withMinMax returns the application definition def (as GET /api/applications/{id} answers it)
// with the cartridge of alias at min lo and max hi: cartridgeMin and cartridgeMax, and
// subscribableInfo's minMembers and maxMembers where the definition sets them (they win). Every
// other field is kept as it is.
func withMinMax(def json.RawMessage, alias string, lo, hi int) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(def))
	dec.UseNumber()
	var app map[string]any
	if err := dec.Decode(&app); err != nil {
		return nil, fmt.Errorf("read the application's definition: %w", err)
	}
	delete(app, "status") // the API's view adds it; a definition does not carry it
	found := false
	var walk func(comp map[string]any)
	walk = func(comp map[string]any) {
		cs, _ := comp["cartridges"].([]any)
		for _, x := range cs {
			cart, _ := x.(map[string]any)
			si, _ := cart["subscribableInfo"].(map[string]any)
			if si == nil || si["alias"] != alias {
				continue
			}
			found = true
			cart["cartridgeMin"], cart["cartridgeMax"] = lo, hi
			if _, ok := si["minMembers"]; ok {
				si["minMembers"] = lo
			}
			if _, ok := si["maxMembers"]; ok {
				si["maxMembers"] = hi
			}
		}
		gs, _ := comp["groups"].([]any)
		for _, g := range gs {
			if gm, ok := g.(map[string]any); ok {
				walk(gm)
			}
		}
	}
	if comp, ok := app["components"].(map[string]any); ok {
		walk(comp)
	}
	if !found {
		return nil, fmt.Errorf("the application's definition has no cartridge with alias %s", alias)
	}
	out, err := json.Marshal(app)
	if err != nil {
		return nil, fmt.Errorf("write the application's definition: %w", err)
	}
	return out, nil
}

// terminateAction terminates one member of the cluster.
func (c *Console) terminateAction(w http.ResponseWriter, r *http.Request) {
	s := sessionFrom(r.Context())
	appID, clusterID, memberID := chi.URLParam(r, "app"), chi.URLParam(r, "cluster"), chi.URLParam(r, "member")
	page := clusterPath(appID, clusterID)
	if r.PostFormValue("confirm") != "yes" {
		c.render(w, r, http.StatusOK, "confirm", confirmation{Action: page + "/members/" + url.PathEscape(memberID) + "/terminate", Verb: "terminate",
			Question: fmt.Sprintf("Terminate member %s of cluster %s? It is cleaned up first; the autoscaler starts another one if the cluster's min requires it.", memberID, clusterID),
			Cancel:   page})
		return
	}
	path := "/api/applications/" + url.PathEscape(appID) + "/members/" + url.PathEscape(memberID)
	if err := c.api(r.Context(), s.creds(), http.MethodDelete, path, nil, nil); err != nil {
		c.apiFailed(w, r, err)
		return
	}
	c.log.Info("console action done", "action", "terminate", "application", appID, "member", memberID, "user", s.user, "tenant", s.tenant)
	http.Redirect(w, r, page, http.StatusSeeOther)
}
