package manager

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"
	"go.etcd.io/bbolt"
)

// The metadata service (§6.3, Stratos' MetadataApi): the members of an application share
// properties, each a key with a list of values, at the application's level or at one of its
// clusters'. A member authenticates with the TOKEN of its payload as a bearer token; the token is
// derived from the application's key, so it opens only its own application's properties. The
// properties live in the manager's store and are removed when the application is undeployed.

// bucketMetadata holds the properties: "<appId>\x00<clusterId or empty>\x00<key>" -> []string.
var bucketMetadata = []byte("manager.metadata")

// metadataProperty is a property as the metadata service reads and writes it.
type metadataProperty struct {
	Key    string   `json:"key"`
	Values []string `json:"values"`
}

// metadataToken is the bearer token of an application's members: an HMAC of a fixed label under
// the application key (CARTRIDGE_KEY), so that it reveals nothing of the key and needs no state.
func metadataToken(appKey string) string {
	m := hmac.New(sha256.New, []byte(appKey))
	m.Write([]byte("strata metadata service token"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// metadataRoutes serves the metadata service under /metadata/api.
func (s *Server) metadataRoutes(r chi.Router) {
	r.Use(s.limitBody)
	r.Route("/applications/{appId}", func(r chi.Router) {
		r.Use(s.metadataAuth)
		r.Get("/properties", s.metadataList(false))
		r.Post("/properties", s.metadataAdd(false))
		r.Delete("/properties", s.metadataDeleteAll)
		r.Get("/properties/{key}", s.metadataGet(false))
		r.Delete("/properties/{key}", s.metadataDelete)
		r.Delete("/properties/{key}/value/{value}", s.metadataDeleteValue)
		for _, c := range []string{"/cluster/{clusterId}", "/clusters/{clusterId}"} {
			r.Get(c+"/properties", s.metadataList(true))
			r.Post(c+"/properties", s.metadataAdd(true))
			r.Get(c+"/properties/{key}", s.metadataGet(true))
		}
	})
}

// metadataAuth admits a request whose bearer token is the application's; the application must
// be deployed. Anything else is 401, whether the application exists or not.
func (s *Server) metadataAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		var a applicationRecord
		ok := found && s.store.get(bucketApplications, chi.URLParam(r, "appId"), &a) == nil &&
			a.Status == statusDeployed && hmac.Equal([]byte(strings.TrimSpace(tok)), []byte(metadataToken(a.Key)))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="Strata metadata"`)
			writeError(w, http.StatusUnauthorized, "Authentication failed: the metadata service needs the application's token")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), metadataAppKey{}, &a)))
	})
}

// metadataAppKey is the context key of the application record metadataAuth read.
type metadataAppKey struct{}

// metadataCluster checks that the cluster of the path is one of the application's (as
// metadataAuth read it); it answers 404 otherwise.
func (s *Server) metadataCluster(w http.ResponseWriter, r *http.Request) bool {
	a, _ := r.Context().Value(metadataAppKey{}).(*applicationRecord)
	cid := chi.URLParam(r, "clusterId")
	if a == nil || !slices.Contains(a.Clusters, cid) {
		writeError(w, http.StatusNotFound, "Cluster not found: [application-id] "+chi.URLParam(r, "appId")+" [cluster-id] "+cid)
		return false
	}
	return true
}

// metadataKey is the store key of a property; prefix (key "") covers a whole scope.
func metadataKey(r *http.Request, cluster bool, key string) string {
	c := ""
	if cluster {
		c = chi.URLParam(r, "clusterId")
	}
	return chi.URLParam(r, "appId") + "\x00" + c + "\x00" + key
}

func (s *Server) metadataAdd(cluster bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if cluster && !s.metadataCluster(w, r) {
			return
		}
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		var p metadataProperty
		if err := decodeStrict(body, &p); err != nil {
			writeError(w, http.StatusBadRequest, "Property is not valid: "+err.Error())
			return
		}
		if p.Key == "" || strings.ContainsRune(p.Key, 0) || len(p.Values) == 0 {
			writeError(w, http.StatusBadRequest, "Property is not valid: a key and at least one value are required")
			return
		}
		err := s.editMetadata(metadataKey(r, cluster, p.Key), true, func(values []string) []string {
			for _, v := range p.Values {
				if !slices.Contains(values, v) {
					values = append(values, v)
				}
			}
			return values
		})
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		created(w, r, p.Key, "Property added successfully: [property] "+p.Key)
	}
}

// editMetadata replaces a property's values with edit's answer in one transaction, deleting
// the property when none is left. A missing property is errNotFound unless create is set.
func (s *Server) editMetadata(key string, create bool, edit func(values []string) []string) error {
	return s.store.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketMetadata)
		k := []byte(key)
		var values []string
		if old := b.Get(k); old == nil && !create {
			return errNotFound
		} else if old != nil {
			if err := json.Unmarshal(old, &values); err != nil {
				return fmt.Errorf("decode property %q: %w", key, err)
			}
		}
		values = edit(values)
		if len(values) == 0 {
			return b.Delete(k)
		}
		enc, err := json.Marshal(values)
		if err != nil {
			return err
		}
		return b.Put(k, enc)
	})
}

// metadataValues reads a property's values (nil when absent).
func (s *Server) metadataValues(key string) ([]string, error) {
	var values []string
	err := s.store.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketMetadata).Get([]byte(key))
		if b == nil {
			return nil
		}
		return json.Unmarshal(b, &values)
	})
	return values, err
}

func (s *Server) metadataGet(cluster bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if cluster && !s.metadataCluster(w, r) {
			return
		}
		key := chi.URLParam(r, "key")
		values, err := s.metadataValues(metadataKey(r, cluster, key))
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if len(values) == 0 {
			writeError(w, http.StatusNotFound, "Property not found: [property] "+key)
			return
		}
		writeJSON(w, http.StatusOK, metadataProperty{Key: key, Values: values})
	}
}

func (s *Server) metadataList(cluster bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if cluster && !s.metadataCluster(w, r) {
			return
		}
		prefix := metadataKey(r, cluster, "")
		out := []metadataProperty{}
		err := s.store.db.View(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketMetadata).Cursor()
			for k, v := c.Seek([]byte(prefix)); k != nil && strings.HasPrefix(string(k), prefix); k, v = c.Next() {
				p := metadataProperty{Key: string(k[len(prefix):])}
				if err := json.Unmarshal(v, &p.Values); err != nil {
					return fmt.Errorf("decode property %s: %w", p.Key, err)
				}
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		if len(out) == 0 {
			writeError(w, http.StatusNotFound, "No properties found")
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func (s *Server) metadataDelete(w http.ResponseWriter, r *http.Request) {
	key := chi.URLParam(r, "key")
	if err := s.store.delete(bucketMetadata, metadataKey(r, false, key)); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeSuccess(w, http.StatusOK, "Property deleted successfully: [property] "+key)
}

func (s *Server) metadataDeleteValue(w http.ResponseWriter, r *http.Request) {
	key, value := chi.URLParam(r, "key"), chi.URLParam(r, "value")
	err := s.editMetadata(metadataKey(r, false, key), false, func(values []string) []string {
		return slices.DeleteFunc(values, func(v string) bool { return v == value })
	})
	if errors.Is(err, errNotFound) {
		writeError(w, http.StatusNotFound, "Property not found: [property] "+key)
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeSuccess(w, http.StatusOK, "Property value deleted successfully: [property] "+key+" [value] "+value)
}

// metadataDeleteAll removes every property of the application, its clusters' included, as
// Stratos' deleteApplication does.
func (s *Server) metadataDeleteAll(w http.ResponseWriter, r *http.Request) {
	if err := s.removeMetadata(chi.URLParam(r, "appId")); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeSuccess(w, http.StatusOK, "Properties deleted successfully: [application-id] "+chi.URLParam(r, "appId"))
}

// removeMetadata removes every property of an application, its clusters' included.
func (s *Server) removeMetadata(appID string) error {
	return s.store.deletePrefix(bucketMetadata, appID+"\x00")
}
