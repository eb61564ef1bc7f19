package manager

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/internal/model"
)

// tenantRecord is a tenant as the manager keeps it, under its domain. The super tenant is
// implicit (carbon.super, -1234).
type tenantRecord struct {
	TenantID     int       `json:"tenantId"`
	TenantDomain string    `json:"tenantDomain"`
	Admin        string    `json:"admin"`
	FirstName    string    `json:"firstName,omitempty"`
	LastName     string    `json:"lastName,omitempty"`
	Email        string    `json:"email,omitempty"`
	Active       bool      `json:"active"`
	Created      time.Time `json:"created"`
}

func (t tenantRecord) bean() tenantBean {
	active := model.Bool(t.Active)
	return tenantBean{Admin: t.Admin, FirstName: t.FirstName, LastName: t.LastName, TenantDomain: t.TenantDomain,
		TenantID: model.Int(t.TenantID), Email: t.Email, Active: &active, CreatedDate: t.Created.Format(time.RFC3339)}
}

// tenantID returns the id of an active tenant by domain.
func (s *Server) tenantID(domain string) (int, error) {
	if domain == SuperTenantDomain {
		return SuperTenantID, nil
	}
	var t tenantRecord
	if err := s.store.get(bucketTenants, domain, &t); err != nil {
		return 0, fmt.Errorf("Tenant not found: [tenant-domain] %s", domain)
	}
	if !t.Active {
		return 0, fmt.Errorf("Tenant is deactivated: [tenant-domain] %s", domain)
	}
	return t.TenantID, nil
}

func validDomain(d string) bool {
	return validID(d) && strings.Contains(d, ".") && d != SuperTenantDomain
}

func (t *tenantBean) validate() error {
	var errs []error
	if !validDomain(t.TenantDomain) {
		errs = append(errs, fmt.Errorf("tenantDomain %q: want a domain such as example.com", t.TenantDomain))
	}
	if t.Admin == "" || strings.ContainsAny(t.Admin, "@/ ") {
		errs = append(errs, fmt.Errorf("admin %q: want a user name without '@', '/' or spaces", t.Admin))
	}
	return errors.Join(errs...)
}

// addTenant creates a tenant and its admin (role tenant-admin) and announces TenantCreatedEvent.
func (s *Server) addTenant(w http.ResponseWriter, r *http.Request) {
	t, ok := decodeBody(w, r, "Tenant", (*tenantBean).validate)
	if !ok {
		return
	}
	if len(t.AdminPassword) < 8 {
		writeError(w, http.StatusBadRequest, "Tenant is not valid: adminPassword must have at least 8 characters")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store.has(bucketTenants, t.TenantDomain) {
		writeError(w, http.StatusConflict, "Tenant already exists: [tenant-domain] "+t.TenantDomain)
		return
	}
	id, err := s.nextTenantID()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	rec := tenantRecord{TenantID: id, TenantDomain: t.TenantDomain, Admin: t.Admin, FirstName: t.FirstName, LastName: t.LastName,
		Email: t.Email, Active: t.Active == nil || bool(*t.Active), Created: time.Now().UTC()}
	if err := s.opts.Users.Put(t.Admin, t.TenantDomain, RoleTenantAdmin, t.AdminPassword); err != nil {
		writeError(w, http.StatusBadRequest, "Tenant is not valid: "+err.Error())
		return
	}
	if err := s.store.put(bucketTenants, t.TenantDomain, rec); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if s.opts.Bus != nil {
		_ = s.opts.Bus.PublishEvent(r.Context(), model.TenantCreatedEvent{Tenant: &model.Tenant{TenantID: model.Int(id), TenantDomain: t.TenantDomain}})
	}
	s.log.Info("tenant added", "tenant", t.TenantDomain, "tenant_id", id)
	created(w, r, t.TenantDomain, "Tenant added successfully: [tenant] "+t.TenantDomain)
}

// nextTenantID hands out tenant ids from 1, as Carbon does.
func (s *Server) nextTenantID() (int, error) {
	var id int
	err := s.store.db.Update(func(tx *bbolt.Tx) error {
		n, err := tx.Bucket(bucketTenants).NextSequence()
		id = int(n)
		return err
	})
	return id, err
}

func (s *Server) updateTenant(w http.ResponseWriter, r *http.Request) {
	t, ok := decodeBody(w, r, "Tenant", (*tenantBean).validate)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var rec tenantRecord
	if err := s.store.get(bucketTenants, t.TenantDomain, &rec); err != nil {
		writeError(w, http.StatusNotFound, "Tenant not found: [tenant-domain] "+t.TenantDomain)
		return
	}
	rec.FirstName, rec.LastName, rec.Email = t.FirstName, t.LastName, t.Email
	if t.AdminPassword != "" {
		if err := s.opts.Users.Put(rec.Admin, rec.TenantDomain, RoleTenantAdmin, t.AdminPassword); err != nil {
			writeError(w, http.StatusBadRequest, "Tenant is not valid: "+err.Error())
			return
		}
	}
	if err := s.store.put(bucketTenants, rec.TenantDomain, rec); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeSuccess(w, http.StatusOK, "Tenant updated successfully: [tenant] "+rec.TenantDomain)
}

func (s *Server) listTenants(w http.ResponseWriter, _ *http.Request) {
	s.writeTenants(w, func(tenantRecord) bool { return true })
}

func (s *Server) searchTenants(w http.ResponseWriter, r *http.Request) {
	q := chi.URLParam(r, "domain")
	s.writeTenants(w, func(t tenantRecord) bool { return strings.Contains(t.TenantDomain, q) })
}

func (s *Server) writeTenants(w http.ResponseWriter, keep func(tenantRecord) bool) {
	ts, err := list[tenantRecord](s.store, bucketTenants, "")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := []tenantBean{}
	for _, t := range ts {
		if keep(t) {
			out = append(out, t.bean())
		}
	}
	if len(out) == 0 {
		writeError(w, http.StatusNotFound, "No tenants found")
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getTenant(w http.ResponseWriter, r *http.Request) {
	d := chi.URLParam(r, "domain")
	var t tenantRecord
	if err := s.store.get(bucketTenants, d, &t); err != nil {
		writeError(w, http.StatusNotFound, "Tenant not found: [tenant-domain] "+d)
		return
	}
	writeJSON(w, http.StatusOK, t.bean())
}

// removeTenant answers 406 as Stratos does: tenant removal is not supported; deactivate instead.
func (s *Server) removeTenant(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotAcceptable, "Tenant removal is not supported: deactivate the tenant instead: [tenant-domain] "+chi.URLParam(r, "domain"))
}

func (s *Server) activateTenant(active bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d := chi.URLParam(r, "domain")
		s.mu.Lock()
		defer s.mu.Unlock()
		var t tenantRecord
		if err := s.store.get(bucketTenants, d, &t); err != nil {
			writeError(w, http.StatusNotFound, "Tenant not found: [tenant-domain] "+d)
			return
		}
		t.Active = active
		if err := s.store.put(bucketTenants, d, t); err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		verb := "activated"
		if !active {
			verb = "deactivated"
		}
		writeSuccess(w, http.StatusOK, "Tenant "+verb+" successfully: [tenant] "+d)
	}
}

// Users of the caller's tenant.

func (s *Server) decodeUser(w http.ResponseWriter, r *http.Request) (userBean, bool) {
	caller, _ := UserFrom(r.Context())
	return decodeBody(w, r, "User", func(b *userBean) error {
		var errs []error
		if b.UserName == "" || strings.ContainsAny(b.UserName, "@/ ") {
			errs = append(errs, fmt.Errorf("userName %q: want a name without '@', '/' or spaces", b.UserName))
		}
		switch b.Role {
		case RoleUser, RoleTenantAdmin:
		case RoleAdmin, RoleBus:
			if caller.TenantDomain != SuperTenantDomain {
				errs = append(errs, fmt.Errorf("role %s: only the super tenant has platform admins and bus accounts", b.Role))
			}
		case "everyone", "":
			b.Role = RoleUser
		default:
			errs = append(errs, fmt.Errorf("role %q: want admin, bus, tenant-admin or user", b.Role))
		}
		if len(b.Credential) < 8 {
			errs = append(errs, errors.New("credential: must have at least 8 characters"))
		}
		return errors.Join(errs...)
	})
}

func (s *Server) addUser(w http.ResponseWriter, r *http.Request) {
	b, ok := s.decodeUser(w, r)
	if !ok {
		return
	}
	caller, _ := UserFrom(r.Context())
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.opts.Users.Get(key(b.UserName, caller.TenantDomain)); err == nil {
		writeError(w, http.StatusConflict, "User already exists: [user] "+b.UserName)
		return
	}
	if err := s.opts.Users.Put(b.UserName, caller.TenantDomain, b.Role, b.Credential); err != nil {
		writeError(w, http.StatusBadRequest, "User is not valid: "+err.Error())
		return
	}
	created(w, r, b.UserName, "User added successfully: [user] "+b.UserName)
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) {
	b, ok := s.decodeUser(w, r)
	if !ok {
		return
	}
	caller, _ := UserFrom(r.Context())
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.opts.Users.Get(key(b.UserName, caller.TenantDomain)); err != nil {
		writeError(w, http.StatusNotFound, "User not found: [user] "+b.UserName)
		return
	}
	if err := s.opts.Users.Put(b.UserName, caller.TenantDomain, b.Role, b.Credential); err != nil {
		writeError(w, http.StatusBadRequest, "User is not valid: "+err.Error())
		return
	}
	writeSuccess(w, http.StatusOK, "User updated successfully: [user] "+b.UserName)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	caller, _ := UserFrom(r.Context())
	us, err := s.opts.Users.List(caller.TenantDomain)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := []userBean{}
	for _, u := range us {
		out = append(out, userBean{UserName: u.Name, Role: u.Role})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) removeUser(w http.ResponseWriter, r *http.Request) {
	caller, _ := UserFrom(r.Context())
	name := chi.URLParam(r, "userName")
	if name == caller.Name {
		writeError(w, http.StatusBadRequest, "A user cannot remove itself: [user] "+name)
		return
	}
	if err := s.opts.Users.Delete(name, caller.TenantDomain); err != nil {
		writeError(w, http.StatusNotFound, "User not found: [user] "+name)
		return
	}
	writeSuccess(w, http.StatusOK, "User deleted successfully: [user] "+name)
}

// API tokens: bearer tokens that stand for a user. Only the SHA-256 of a token is stored; the
// token itself is shown once, in the answer to POST /tokens.

// tokenRequest is the optional body of POST /tokens.
type tokenRequest struct {
	Name string `json:"name"`
}

type tokenRecord struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	User         string    `json:"user"`
	TenantDomain string    `json:"tenantDomain"`
	Created      time.Time `json:"created"`
}

// tokenPrefix marks Strata API tokens, so secret scanners can find leaked ones.
const tokenPrefix = "strata_"

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

func (s *Server) addToken(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if body, err := readOptionalBody(r); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	} else if len(body) > 0 {
		if err := decodeStrict(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "Token request is not valid: "+err.Error())
			return
		}
	}
	u, _ := UserFrom(r.Context())
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	tok := tokenPrefix + hex.EncodeToString(raw)
	rec := tokenRecord{ID: hashToken(tok)[:12], Name: req.Name, User: u.Name, TenantDomain: u.TenantDomain, Created: time.Now().UTC()}
	if err := s.store.put(bucketTokens, hashToken(tok), rec); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Location", r.URL.Path+"/"+rec.ID)
	writeJSON(w, http.StatusCreated, tokenCreated{Status: "success", Message: "Token created: it is shown only once", ID: rec.ID, Token: tok})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	ts, err := list[tokenRecord](s.store, bucketTokens, "")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	out := []tokenRecord{}
	for _, t := range ts {
		if t.User == u.Name && t.TenantDomain == u.TenantDomain {
			out = append(out, t)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) removeToken(w http.ResponseWriter, r *http.Request) {
	u, _ := UserFrom(r.Context())
	id := chi.URLParam(r, "id")
	keys, values, err := s.store.rawList(bucketTokens)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	for i, k := range keys {
		var t tokenRecord
		if decodeStrict(values[i], &t) == nil && t.ID == id && t.User == u.Name && t.TenantDomain == u.TenantDomain {
			if err := s.store.delete(bucketTokens, k); err != nil {
				writeError(w, http.StatusInternalServerError, err.Error())
				return
			}
			writeSuccess(w, http.StatusOK, "Token deleted successfully: [token] "+id)
			return
		}
	}
	writeError(w, http.StatusNotFound, "Token not found: [token] "+id)
}

// tokenUser returns the user a bearer token stands for.
func (s *Server) tokenUser(tok string) (User, bool) {
	if !strings.HasPrefix(tok, tokenPrefix) {
		return User{}, false
	}
	var t tokenRecord
	if err := s.store.get(bucketTokens, hashToken(tok), &t); err != nil {
		return User{}, false
	}
	u, err := s.opts.Users.Get(key(t.User, t.TenantDomain))
	if err != nil {
		return User{}, false
	}
	return u, true
}
