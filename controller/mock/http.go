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
	Payload            string   `json:"payload"` // the launch-params line
}

// Handler serves the parts of Stratos' mock IaaS API (/mock-iaas/api, §8.1) that tests use:
//
//	GET    /status            {"status":"running","instances":N}
//	GET    /instances         []InstanceMetadata
//	GET    /instances/{id}    InstanceMetadata (with the payload)
//	DELETE /instances/{id}    Kill: the instance vanishes silently, as in Stratos
func (d *Driver) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "running", "instances": d.Stats().Instances})
	})
	mux.HandleFunc("GET /instances", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		out := make([]InstanceMetadata, 0, len(d.instances))
		for _, in := range d.instances {
			out = append(out, metadata(&in.rec))
		}
		d.mu.Unlock()
		slices.SortFunc(out, func(a, b InstanceMetadata) int { return strings.Compare(a.InstanceID, b.InstanceID) })
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("GET /instances/{id}", func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		in, ok := d.instances[r.PathValue("id")]
		var m InstanceMetadata
		if ok {
			m = metadata(&in.rec)
		}
		d.mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such instance"})
			return
		}
		writeJSON(w, http.StatusOK, m)
	})
	mux.HandleFunc("DELETE /instances/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := d.Kill(r.PathValue("id")); errors.Is(err, controller.ErrInstanceNotFound) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	return mux
}

func metadata(r *record) InstanceMetadata {
	return InstanceMetadata{InstanceID: r.Started.InstanceID, MemberID: r.Started.MemberID, ClusterID: r.ClusterID,
		ClusterInstanceID: r.ClusterInstanceID, ServiceName: r.ServiceName, NetworkPartitionID: r.NetworkPartitionID,
		PartitionID: r.PartitionID, PrivateIPs: slices.Clone(r.Started.PrivateIPs), PublicIPs: slices.Clone(r.Started.PublicIPs),
		Payload: model.Payload(r.Payload).String()}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
