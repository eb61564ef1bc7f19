package manager

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"go.etcd.io/bbolt"

	"github.com/strata-paas/strata/internal/model"
)

// bucketKubernetesClusters holds the Kubernetes cluster definitions: clusterId ->
// model.KubernetesCluster.
var bucketKubernetesClusters = []byte("manager.kubernetesClusters")

// KubernetesClusters reads the Kubernetes cluster definitions the REST API stores
// (/api/kubernetesClusters) from the shared database, for the kubernetes driver. It is safe for
// concurrent use.
type KubernetesClusters struct{ db *bbolt.DB }

// NewKubernetesClusters returns the reader of the definitions in db, creating their bucket.
func NewKubernetesClusters(db *bbolt.DB) (*KubernetesClusters, error) {
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketKubernetesClusters)
		return err
	}); err != nil {
		return nil, fmt.Errorf("manager: kubernetes clusters bucket: %w", err)
	}
	return &KubernetesClusters{db: db}, nil
}

// KubernetesCluster returns the definition with the id.
func (k *KubernetesClusters) KubernetesCluster(id string) (model.KubernetesCluster, bool) {
	var out model.KubernetesCluster
	found := false
	_ = k.db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketKubernetesClusters); b != nil {
			if v := b.Get([]byte(id)); v != nil {
				found = json.Unmarshal(v, &out) == nil
			}
		}
		return nil
	})
	return out, found
}

// KubernetesClusters returns every definition, by id.
func (k *KubernetesClusters) KubernetesClusters() []model.KubernetesCluster {
	var out []model.KubernetesCluster
	_ = k.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketKubernetesClusters)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var c model.KubernetesCluster
			if json.Unmarshal(v, &c) == nil {
				out = append(out, c)
			}
			return nil
		})
	})
	return out
}

// kubernetesClusterUsers names the partitions whose "cluster" property names the Kubernetes
// cluster: it cannot be removed while they exist.
func (s *Server) kubernetesClusterUsers(id string) []string {
	var users []string
	for _, np := range s.opts.Policies.Set().NetworkPartitions() {
		for _, p := range np.Partitions {
			for _, prop := range p.Properties {
				if prop.Name == "cluster" && prop.Value == id {
					users = append(users, "partition "+p.ID+" of network partition "+np.ID)
				}
			}
		}
	}
	return users
}

func (s *Server) getKubernetesCluster(w http.ResponseWriter, id string) (model.KubernetesCluster, bool) {
	var c model.KubernetesCluster
	if err := s.store.get(bucketKubernetesClusters, id, &c); err != nil {
		writeError(w, http.StatusNotFound, "Kubernetes cluster not found: [cluster-id] "+id)
		return c, false
	}
	return c, true
}

func (s *Server) addKubernetesCluster(w http.ResponseWriter, r *http.Request) {
	c, ok := decodeBody(w, r, "Kubernetes cluster", (*model.KubernetesCluster).Validate)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store.has(bucketKubernetesClusters, c.ClusterID) {
		writeError(w, http.StatusConflict, "Kubernetes cluster already exists: [cluster-id] "+c.ClusterID)
		return
	}
	if err := s.store.put(bucketKubernetesClusters, c.ClusterID, c); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.log.Info("kubernetes cluster added", "cluster_id", c.ClusterID)
	created(w, r, c.ClusterID, "Kubernetes cluster added successfully: [cluster-id] "+c.ClusterID)
}

func (s *Server) updateKubernetesCluster(w http.ResponseWriter, r *http.Request) {
	c, ok := decodeBody(w, r, "Kubernetes cluster", (*model.KubernetesCluster).Validate)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.getKubernetesCluster(w, c.ClusterID); !ok {
		return
	}
	if err := s.store.put(bucketKubernetesClusters, c.ClusterID, c); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeSuccess(w, http.StatusOK, "Kubernetes cluster updated successfully: [cluster-id] "+c.ClusterID)
}

func (s *Server) listKubernetesClusters(w http.ResponseWriter, _ *http.Request) {
	cs, err := list[model.KubernetesCluster](s.store, bucketKubernetesClusters, "")
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if len(cs) == 0 {
		writeError(w, http.StatusNotFound, "No kubernetes clusters found")
		return
	}
	writeJSON(w, http.StatusOK, cs)
}

func (s *Server) getKubernetesClusterHandler(w http.ResponseWriter, r *http.Request) {
	if c, ok := s.getKubernetesCluster(w, chi.URLParam(r, "id")); ok {
		writeJSON(w, http.StatusOK, c)
	}
}

func (s *Server) getKubernetesHosts(w http.ResponseWriter, r *http.Request) {
	if c, ok := s.getKubernetesCluster(w, chi.URLParam(r, "id")); ok {
		writeJSON(w, http.StatusOK, append([]model.KubernetesHost{}, c.KubernetesHosts...))
	}
}

func (s *Server) getKubernetesMaster(w http.ResponseWriter, r *http.Request) {
	if c, ok := s.getKubernetesCluster(w, chi.URLParam(r, "id")); ok {
		writeJSON(w, http.StatusOK, c.KubernetesMaster)
	}
}

// changeKubernetesCluster decodes a host, applies change to the cluster with the id (or, for
// id "", the cluster that has the host), validates and stores the result.
func (s *Server) changeKubernetesCluster(w http.ResponseWriter, r *http.Request, id string, code int,
	change func(c *model.KubernetesCluster, h model.KubernetesHost) (string, int)) {
	h, ok := decodeBody(w, r, "Kubernetes host", func(*model.KubernetesHost) error { return nil })
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var c model.KubernetesCluster
	if id == "" {
		cs, err := list[model.KubernetesCluster](s.store, bucketKubernetesClusters, "")
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		found := false
		for _, x := range cs {
			if x.Host(h.HostID) != nil {
				c, found = x, true
				break
			}
		}
		if !found {
			writeError(w, http.StatusNotFound, "Kubernetes host not found: [host-id] "+h.HostID)
			return
		}
	} else if c, ok = s.getKubernetesCluster(w, id); !ok {
		return
	}
	msg, fail := change(&c, h)
	if fail != 0 {
		writeError(w, fail, msg)
		return
	}
	if err := c.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, "Kubernetes host is not valid: "+errorText(err))
		return
	}
	if err := s.store.put(bucketKubernetesClusters, c.ClusterID, c); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if code == http.StatusCreated {
		created(w, r, h.HostID, msg)
		return
	}
	writeSuccess(w, code, msg)
}

func (s *Server) addKubernetesHost(w http.ResponseWriter, r *http.Request) {
	s.changeKubernetesCluster(w, r, chi.URLParam(r, "id"), http.StatusCreated, func(c *model.KubernetesCluster, h model.KubernetesHost) (string, int) {
		if c.Host(h.HostID) != nil {
			return "Kubernetes host already exists: [host-id] " + h.HostID, http.StatusConflict
		}
		c.KubernetesHosts = append(c.KubernetesHosts, h)
		return "Kubernetes host added successfully: [host-id] " + h.HostID, 0
	})
}

func (s *Server) updateKubernetesMaster(w http.ResponseWriter, r *http.Request) {
	s.changeKubernetesCluster(w, r, chi.URLParam(r, "id"), http.StatusOK, func(c *model.KubernetesCluster, h model.KubernetesHost) (string, int) {
		c.KubernetesMaster = h
		return "Kubernetes master updated successfully: [host-id] " + h.HostID, 0
	})
}

func (s *Server) updateKubernetesHost(w http.ResponseWriter, r *http.Request) {
	s.changeKubernetesCluster(w, r, "", http.StatusOK, func(c *model.KubernetesCluster, h model.KubernetesHost) (string, int) {
		if c.KubernetesMaster.HostID == h.HostID {
			c.KubernetesMaster = h
		} else {
			*c.Host(h.HostID) = h
		}
		return "Kubernetes host updated successfully: [host-id] " + h.HostID, 0
	})
}

func (s *Server) removeKubernetesCluster(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.getKubernetesCluster(w, id); !ok {
		return
	}
	if users := s.kubernetesClusterUsers(id); len(users) > 0 {
		writeError(w, http.StatusConflict, "Kubernetes cluster is in use: [cluster-id] "+id+" is used by "+strings.Join(users, ", "))
		return
	}
	if err := s.store.delete(bucketKubernetesClusters, id); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeSuccess(w, http.StatusOK, "Kubernetes cluster removed successfully: [cluster-id] "+id)
}

func (s *Server) removeKubernetesHost(w http.ResponseWriter, r *http.Request) {
	id, hostID := chi.URLParam(r, "id"), chi.URLParam(r, "hostId")
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.getKubernetesCluster(w, id)
	if !ok {
		return
	}
	i := -1
	for j, h := range c.KubernetesHosts {
		if h.HostID == hostID {
			i = j
		}
	}
	if i < 0 {
		writeError(w, http.StatusNotFound, "Kubernetes host not found: [host-id] "+hostID)
		return
	}
	c.KubernetesHosts = append(c.KubernetesHosts[:i], c.KubernetesHosts[i+1:]...)
	if err := s.store.put(bucketKubernetesClusters, c.ClusterID, c); err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeSuccess(w, http.StatusOK, "Kubernetes host removed successfully: [host-id] "+hostID)
}
