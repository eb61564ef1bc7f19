package mock

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/model"
)

// InstanceMetadata is an instance as the mock IaaS API shows it (Stratos' MockInstanceMetadata).
type InstanceMetadata struct {
	InstanceID         string   `json:"instanceId"`
	MemberID           string   `json:"memberId"`
	ClusterID          string   `json:"clusterId"`
	ClusterInstanceID  string   `json:"clusterInstanceId"`
	ServiceName        string   `json:"serviceName"`
	NetworkPartitionID string   `json:"networkPartitionId"`
	PartitionID        string   `json:"partitionId"`
	PrivateIPs         []string `json:"privateIpAddresses"`
	PublicIPs          []string `json:"publicIpAddresses"`
	DefaultPrivateIP   string   `json:"defaultPrivateIp"`
	DefaultPublicIP    string   `json:"defaultPublicIp"`
	Payload            string   `json:"payload"` // the launch-params line
}

// Handler serves the parts of Stratos' mock IaaS API (/mock-iaas/api, §8.1) that tests use:
//
//	GET    /status            {"status":"running","instances":N}
//	GET    /instances         []InstanceMetadata
//	GET    /instances/{id}    InstanceMetadata (with the payload)
//	POST   /instances         start an instance from Stratos' MockInstanceContext: InstanceMetadata
//	POST   /instances/{id}/allocateIpAddress  InstanceMetadata with its default private and public IP
//	DELETE /instances/{id}    Kill: the instance vanishes silently, as in Stratos
//
// An instance started over the API simulates the agent of a member the controller may not know:
// its lifecycle events name that member, as Stratos' mock IaaS service does when called directly.
func (d *Driver) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /instances", d.postInstance)
	// Addresses are given at the start (Stratos allocates them at allocateIpAddress); its answer
	// is the instance's.
	mux.HandleFunc("POST /instances/{id}/allocateIpAddress", d.getInstance)
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "running", "instances": d.Stats().Instances})
	})
	mux.HandleFunc("GET /instances", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		out := make([]InstanceMetadata, 0, len(d.instances))
		for _, in := range d.instances {
			out = append(out, metadata(in, d.payloadLocked(in)))
		}
		d.mu.Unlock()
		slices.SortFunc(out, func(a, b InstanceMetadata) int { return strings.Compare(a.InstanceID, b.InstanceID) })
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /instances/{id}", d.getInstance)
	mux.HandleFunc("DELETE /instances/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := d.Kill(r.PathValue("id")); errors.Is(err, controller.ErrInstanceNotFound) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	return mux
}

// instanceContext is Stratos' MockInstanceContext, the body of POST /instances.
type instanceContext struct {
	ApplicationID      string `json:"applicationId"`
	ServiceName        string `json:"serviceName"`
	ClusterID          string `json:"clusterId"`
	MemberID           string `json:"memberId"`
	ClusterInstanceID  string `json:"clusterInstanceId"`
	NetworkPartitionID string `json:"networkPartitionId"`
	PartitionID        string `json:"partitionId"`
	DefaultPrivateIP   string `json:"defaultPrivateIP"`
	InstanceID         string `json:"instanceId"` // ignored: the instance id is the member id
	Payload            string `json:"payload"`    // the launch-params line
}

func (d *Driver) postInstance(w http.ResponseWriter, r *http.Request) {
	var c instanceContext
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&c); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "mock instance context: " + err.Error()})
		return
	}
	if c.MemberID == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "mock instance context: no memberId"})
		return
	}
	payload, err := model.ParsePayload(strings.NewReader(c.Payload))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "mock instance context: payload: " + err.Error()})
		return
	}
	if c.ApplicationID != "" {
		if _, ok := payload.Get(model.PayloadApplicationID); !ok {
			payload.Set(model.PayloadApplicationID, c.ApplicationID)
		}
	}
	st, err := d.Start(r.Context(), controller.Instance{MemberID: c.MemberID, ClusterID: c.ClusterID,
		ClusterInstanceID: c.ClusterInstanceID, ServiceName: c.ServiceName, NetworkPartitionID: c.NetworkPartitionID,
		PartitionID: c.PartitionID, Payload: payload, PrivateIP: c.DefaultPrivateIP})
	switch {
	case errors.Is(err, ErrInstanceExists):
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		return
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	m, _ := d.instanceMetadata(st.InstanceID) // empty when killed meanwhile
	writeJSON(w, http.StatusOK, m)
}

func metadata(in *instance, payload model.Payload) InstanceMetadata {
	st, at := in.addresses(), &in.at.key
	return InstanceMetadata{DefaultPrivateIP: in.privateIP, DefaultPublicIP: in.publicIP, InstanceID: in.id, MemberID: in.id, ClusterID: at.ClusterID,
		ClusterInstanceID: at.ClusterInstanceID, ServiceName: at.ServiceName, NetworkPartitionID: at.NetworkPartitionID,
		PartitionID: at.PartitionID, PrivateIPs: st.PrivateIPs, PublicIPs: st.PublicIPs,
		Payload: payload.String()}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// getInstance answers one instance's metadata.
func (d *Driver) getInstance(w http.ResponseWriter, r *http.Request) {
	m, ok := d.instanceMetadata(r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such instance"})
		return
	}
	writeJSON(w, http.StatusOK, m)
}

// instanceMetadata is an instance's metadata, if it exists.
func (d *Driver) instanceMetadata(id string) (InstanceMetadata, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	in, ok := d.instances[id]
	if !ok {
		return InstanceMetadata{}, false
	}
	return metadata(in, d.payloadLocked(in)), true
}
