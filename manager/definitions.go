package manager

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/strata-paas/strata/internal/model"
)

// readBody reads the request body; a body over MaxBody is 413.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", mbe.Limit))
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return nil, false
	}
	if len(bytes.TrimSpace(b)) == 0 {
		writeError(w, http.StatusBadRequest, "request body is empty: please check your input format")
		return nil, false
	}
	return b, true
}

// decodeBody reads a request body strictly into a T and checks it with check; either problem is
// answered 400 with a message that starts with what ("Cartridge is not valid: ...").
func decodeBody[T any](w http.ResponseWriter, r *http.Request, what string, check func(*T) error) (T, bool) {
	var v T
	body, ok := readBody(w, r)
	if !ok {
		return v, false
	}
	if err := decodeStrict(body, &v); err != nil {
		writeError(w, http.StatusBadRequest, what+" is not valid: "+err.Error())
		return v, false
	}
	if err := check(&v); err != nil {
		writeError(w, http.StatusBadRequest, what+" is not valid: "+errorText(err))
		return v, false
	}
	return v, true
}

// decodeStrict decodes JSON into v, refusing unknown keys and trailing data; the error names the
// offending field.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fmt.Errorf("field %s: %w", te.Field, err)
		}
		if k := keyBefore(data, dec.InputOffset()); k != "" && !strings.Contains(err.Error(), k) {
			return fmt.Errorf("invalid JSON near field %s: %w", k, err)
		}
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return errors.New("invalid JSON: data after the object")
	}
	return nil
}

var keyRE = regexp.MustCompile(`"([^"\\]{1,128})"\s*:`)

// keyBefore names the last object key before offset, to point at the value a decoder refused.
func keyBefore(data []byte, offset int64) string {
	if offset <= 0 || offset > int64(len(data)) {
		return ""
	}
	start := max(0, offset-4096)
	m := keyRE.FindAllSubmatch(data[start:offset], -1)
	if len(m) == 0 {
		return ""
	}
	return string(m[len(m)-1][1])
}

// errorText joins every problem of a validation error into one message.
func errorText(err error) string {
	var msgs []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		msgs = append(msgs, e.Error())
	}
	walk(err)
	return strings.Join(msgs, "; ")
}

func validID(id string) bool { return model.ValidName(id) }

// Cartridges.

func (s *Server) addCartridge(w http.ResponseWriter, r *http.Request) {
	c, ok := decodeBody(w, r, "Cartridge", (*model.Cartridge).Validate)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store.has(bucketCartridges, c.Type) {
		writeError(w, http.StatusConflict, "Cartridge already exists: [cartridge-type] "+c.Type)
		return
	}
	if err := s.opts.Cartridges.AddCartridge(r.Context(), c); err != nil {
		writeError(w, http.StatusBadRequest, "Cartridge could not be added: "+err.Error())
		return
	}
	if err := s.store.put(bucketCartridges, c.Type, c); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.log.Info("cartridge added", "type", c.Type)
	created(w, r, c.Type, "Cartridge added successfully: [cartridge-type] "+c.Type)
}

func (s *Server) updateCartridge(w http.ResponseWriter, r *http.Request) {
	c, ok := decodeBody(w, r, "Cartridge", (*model.Cartridge).Validate)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.store.has(bucketCartridges, c.Type) {
		writeError(w, http.StatusNotFound, "Cartridge not found: [cartridge-type] "+c.Type)
		return
	}
	if err := s.opts.Cartridges.UpdateCartridge(r.Context(), c); err != nil {
		writeError(w, http.StatusBadRequest, "Cartridge could not be updated: "+err.Error())
		return
	}
	if err := s.store.put(bucketCartridges, c.Type, c); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeSuccess(w, http.StatusOK, "Cartridge updated successfully: [cartridge-type] "+c.Type)
}

func (s *Server) cartridges() ([]model.Cartridge, error) {
	return list[model.Cartridge](s.store, bucketCartridges, "")
}

func (s *Server) listCartridges(w http.ResponseWriter, r *http.Request) {
	s.writeCartridges(w, r, "")
}

func (s *Server) filterCartridges(w http.ResponseWriter, r *http.Request) {
	s.writeCartridges(w, r, chi.URLParam(r, "filter"))
}

// writeCartridges lists the cartridges, optionally those of a category (filter) and whose type
// contains ?criteria=.
func (s *Server) writeCartridges(w http.ResponseWriter, r *http.Request, category string) {
	cs, err := s.cartridges()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	criteria := r.URL.Query().Get("criteria")
	out := []model.Cartridge{}
	for _, c := range cs {
		if category != "" && !strings.EqualFold(c.Category, category) {
			continue
		}
		if criteria != "" && !strings.Contains(c.Type, criteria) {
			continue
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		writeError(w, http.StatusNotFound, "No cartridges found")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getCartridge(w http.ResponseWriter, r *http.Request) {
	typ := chi.URLParam(r, "type")
	var c model.Cartridge
	if err := s.store.get(bucketCartridges, typ, &c); err != nil {
		writeError(w, http.StatusNotFound, "Cartridge not found: [cartridge-type] "+typ)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) getCartridgeFiltered(w http.ResponseWriter, r *http.Request) {
	typ := chi.URLParam(r, "type")
	var c model.Cartridge
	if err := s.store.get(bucketCartridges, typ, &c); err != nil || !strings.EqualFold(c.Category, chi.URLParam(r, "filter")) {
		writeError(w, http.StatusNotFound, "Cartridge not found: [cartridge-type] "+typ)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) removeCartridge(w http.ResponseWriter, r *http.Request) {
	typ := chi.URLParam(r, "type")
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.store.has(bucketCartridges, typ) {
		writeError(w, http.StatusNotFound, "Cartridge not found: [cartridge-type] "+typ)
		return
	}
	if users := s.cartridgeUsers(typ); len(users) > 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Cartridge is in use: [cartridge-type] %s is used by %s", typ, strings.Join(users, ", ")))
		return
	}
	if err := s.opts.Cartridges.RemoveCartridge(r.Context(), typ); err != nil {
		writeError(w, http.StatusBadRequest, "Cartridge could not be removed: "+err.Error())
		return
	}
	if err := s.store.delete(bucketCartridges, typ); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeSuccess(w, http.StatusOK, "Cartridge deleted successfully: [cartridge-type] "+typ)
}

// cartridgeUsers names the applications, groups and subscriptions that use a cartridge type.
func (s *Server) cartridgeUsers(typ string) []string {
	var users []string
	apps, _ := list[applicationRecord](s.store, bucketApplications, "")
	for _, a := range apps {
		used := false
		a.Bean.walkCartridges(func(c *cartridgeRef, _ string) { used = used || c.Type == typ })
		if used {
			users = append(users, "application "+a.Bean.ApplicationID)
		}
	}
	groups, _ := list[cartridgeGroup](s.store, bucketGroups, "")
	for _, g := range groups {
		if g.uses(typ) {
			users = append(users, "cartridge group "+g.Name)
		}
	}
	return users
}

// Cartridge groups.

// addGroup registers a cartridge group and, as Stratos does, every group nested in its
// definition under its own name: an application can then reference an inner group directly. A
// nested group that is already registered with the same definition is kept; with another one
// the add is refused.
func (s *Server) addGroup(w http.ResponseWriter, r *http.Request) {
	g, ok := decodeBody(w, r, "Cartridge group", (*cartridgeGroup).validate)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store.has(bucketGroups, g.Name) {
		writeError(w, http.StatusConflict, "Cartridge group already exists: [cartridge-group] "+g.Name)
		return
	}
	nested := g.nested()
	for _, n := range nested {
		var old cartridgeGroup
		if err := s.store.get(bucketGroups, n.Name, &old); err == nil && !reflect.DeepEqual(old, n) {
			writeError(w, http.StatusConflict, fmt.Sprintf("Cartridge group already exists: [cartridge-group] %s, nested in %s with another definition", n.Name, g.Name))
			return
		}
	}
	for _, n := range append(nested, g) {
		if err := s.store.put(bucketGroups, n.Name, n); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	s.log.Info("cartridge group added", "group", g.Name, "nested", len(nested))
	created(w, r, g.Name, "Cartridge Group added successfully: [cartridge-group] "+g.Name)
}

func (s *Server) updateGroup(w http.ResponseWriter, r *http.Request) {
	g, ok := decodeBody(w, r, "Cartridge group", (*cartridgeGroup).validate)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.store.has(bucketGroups, g.Name) {
		writeError(w, http.StatusNotFound, "Cartridge group not found: [cartridge-group] "+g.Name)
		return
	}
	// The applications that use the group must still hold with its new startup orders.
	replace := map[string]cartridgeGroup{g.Name: g}
	for _, n := range g.nested() {
		replace[n.Name] = n
	}
	apps, _ := list[applicationRecord](s.store, bucketApplications, "")
	var errs []error
	for _, a := range apps {
		errs = append(errs, s.checkStartupOrders(&a.Bean, replace)...)
	}
	if len(errs) > 0 {
		writeError(w, http.StatusBadRequest, "Cartridge group is not valid: "+errorText(errors.Join(errs...)))
		return
	}
	for _, n := range append(g.nested(), g) {
		if err := s.store.put(bucketGroups, n.Name, n); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	writeSuccess(w, http.StatusOK, "Cartridge Group updated successfully: [cartridge-group] "+g.Name)
}

func (s *Server) listGroups(w http.ResponseWriter, _ *http.Request) {
	gs, err := list[cartridgeGroup](s.store, bucketGroups, "")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if len(gs) == 0 {
		writeError(w, http.StatusNotFound, "No cartridge groups found")
		return
	}
	writeJSON(w, http.StatusOK, gs)
}

func (s *Server) getGroup(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	var g cartridgeGroup
	if err := s.store.get(bucketGroups, name, &g); err != nil {
		writeError(w, http.StatusNotFound, "Cartridge group not found: [cartridge-group] "+name)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

// removeGroup removes a cartridge group with the groups nested in its definition that no other
// group nests. A group that an application uses, or that another registered group nests, is
// refused.
func (s *Server) removeGroup(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	s.mu.Lock()
	defer s.mu.Unlock()
	var g cartridgeGroup
	if err := s.store.get(bucketGroups, name, &g); err != nil {
		writeError(w, http.StatusNotFound, "Cartridge group not found: [cartridge-group] "+name)
		return
	}
	groups, err := list[cartridgeGroup](s.store, bucketGroups, "")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	remove := map[string]bool{name: true}
	for _, n := range g.nested() {
		remove[n.Name] = true
	}
	// A nested group stays when a group that is not removed nests it too.
	for _, other := range groups {
		if remove[other.Name] {
			continue
		}
		for _, n := range other.nested() {
			delete(remove, n.Name)
		}
	}
	var users []string
	for _, other := range groups {
		if other.Name != name && !remove[other.Name] && other.nests(name) {
			users = append(users, "cartridge group "+other.Name)
		}
	}
	apps, _ := list[applicationRecord](s.store, bucketApplications, "")
	for _, a := range apps {
		for n := range remove {
			if a.Bean.usesGroup(n) {
				users = append(users, "application "+a.Bean.ApplicationID)
				break
			}
		}
	}
	if len(users) > 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Cartridge group is in use: [cartridge-group] %s is used by %s", name, strings.Join(users, ", ")))
		return
	}
	for n := range remove {
		if err := s.store.delete(bucketGroups, n); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	writeSuccess(w, http.StatusOK, "Cartridge Group deleted successfully: [cartridge-group] "+name)
}
