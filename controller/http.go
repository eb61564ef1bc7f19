package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/strata-paas/strata/internal/model"
)

// The controller's API over HTTP, for an autoscaler or manager in another process. Handler
// serves it; Client calls it. Bodies are JSON: the model's definitions as Stratos writes them,
// ClusterSpec and StartRequest with their json tags. Errors are {"error": "..."} with the status
// of the sentinel they wrap (see statusOf).
//
//	GET    /cartridges                          []model.Cartridge
//	POST   /cartridges                          model.Cartridge
//	GET    /cartridges/{type}                   model.Cartridge
//	PUT    /cartridges/{type}                   model.Cartridge
//	DELETE /cartridges/{type}
//	GET    /network-partitions                  []model.NetworkPartition
//	POST   /network-partitions                  model.NetworkPartition
//	GET    /network-partitions/{id}             model.NetworkPartition
//	PUT    /network-partitions/{id}             model.NetworkPartition
//	DELETE /network-partitions/{id}
//	POST   /clusters                            ClusterSpec
//	POST   /applications/{appId}/clusters       []ClusterSpec
//	DELETE /applications/{appId}/clusters       (terminates their members first)
//	GET    /clusters/{id}                       model.Cluster
//	DELETE /clusters/{id}                       (terminates its members first)
//	POST   /clusters/{id}/members               StartRequest -> 201 model.Member
//	POST   /clusters/{id}/terminate-all
//	GET    /members?cluster={id}                []model.Member
//	GET    /members/{id}                        model.Member
//	DELETE /members/{id}?forced=true|false
//	GET    /topology                            model.Topology

// maxBody bounds a request body.
const maxBody = 4 << 20

// Handler returns the HTTP API. Mount it under a prefix with http.StripPrefix.
func (c *Controller) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cartridges", func(w http.ResponseWriter, r *http.Request) { reply(w, http.StatusOK, c.Cartridges()) })
	mux.HandleFunc("POST /cartridges", func(w http.ResponseWriter, r *http.Request) {
		var ct model.Cartridge
		if decode(w, r, &ct) {
			replyErr(w, http.StatusCreated, c.AddCartridge(r.Context(), ct))
		}
	})
	mux.HandleFunc("GET /cartridges/{type}", func(w http.ResponseWriter, r *http.Request) {
		ct, err := c.Cartridge(r.PathValue("type"))
		replyValue(w, ct, err)
	})
	mux.HandleFunc("PUT /cartridges/{type}", func(w http.ResponseWriter, r *http.Request) {
		var ct model.Cartridge
		if decode(w, r, &ct) {
			if ct.Type != r.PathValue("type") {
				replyErr(w, 0, fmt.Errorf("%w: body type %q differs from the path", ErrInvalid, ct.Type))
				return
			}
			replyErr(w, http.StatusOK, c.UpdateCartridge(r.Context(), ct))
		}
	})
	mux.HandleFunc("DELETE /cartridges/{type}", func(w http.ResponseWriter, r *http.Request) {
		replyErr(w, http.StatusOK, c.RemoveCartridge(r.Context(), r.PathValue("type")))
	})
	mux.HandleFunc("GET /network-partitions", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, c.NetworkPartitions())
	})
	mux.HandleFunc("POST /network-partitions", func(w http.ResponseWriter, r *http.Request) {
		var np model.NetworkPartition
		if decode(w, r, &np) {
			replyErr(w, http.StatusCreated, c.AddNetworkPartition(r.Context(), np))
		}
	})
	mux.HandleFunc("GET /network-partitions/{id}", func(w http.ResponseWriter, r *http.Request) {
		np, err := c.NetworkPartition(r.PathValue("id"))
		replyValue(w, np, err)
	})
	mux.HandleFunc("PUT /network-partitions/{id}", func(w http.ResponseWriter, r *http.Request) {
		var np model.NetworkPartition
		if decode(w, r, &np) {
			if np.ID != r.PathValue("id") {
				replyErr(w, 0, fmt.Errorf("%w: body id %q differs from the path", ErrInvalid, np.ID))
				return
			}
			replyErr(w, http.StatusOK, c.UpdateNetworkPartition(r.Context(), np))
		}
	})
	mux.HandleFunc("DELETE /network-partitions/{id}", func(w http.ResponseWriter, r *http.Request) {
		replyErr(w, http.StatusOK, c.RemoveNetworkPartition(r.Context(), r.PathValue("id")))
	})
	mux.HandleFunc("POST /clusters", func(w http.ResponseWriter, r *http.Request) {
		var s ClusterSpec
		if decode(w, r, &s) {
			replyErr(w, http.StatusCreated, c.CreateCluster(r.Context(), s))
		}
	})
	mux.HandleFunc("POST /applications/{appId}/clusters", func(w http.ResponseWriter, r *http.Request) {
		var specs []ClusterSpec
		if decode(w, r, &specs) {
			replyErr(w, http.StatusCreated, c.CreateApplicationClusters(r.Context(), r.PathValue("appId"), specs))
		}
	})
	mux.HandleFunc("DELETE /applications/{appId}/clusters", func(w http.ResponseWriter, r *http.Request) {
		replyErr(w, http.StatusOK, c.RemoveApplicationClusters(r.Context(), r.PathValue("appId")))
	})
	mux.HandleFunc("GET /clusters/{id}", func(w http.ResponseWriter, r *http.Request) {
		cl, err := c.Cluster(r.PathValue("id"))
		replyValue(w, cl, err)
	})
	mux.HandleFunc("DELETE /clusters/{id}", func(w http.ResponseWriter, r *http.Request) {
		replyErr(w, http.StatusOK, c.RemoveCluster(r.Context(), r.PathValue("id")))
	})
	mux.HandleFunc("POST /clusters/{id}/members", func(w http.ResponseWriter, r *http.Request) {
		var req StartRequest
		if !decode(w, r, &req) {
			return
		}
		if req.ClusterID == "" {
			req.ClusterID = r.PathValue("id")
		}
		if req.ClusterID != r.PathValue("id") {
			replyErr(w, 0, fmt.Errorf("%w: body cluster %q differs from the path", ErrInvalid, req.ClusterID))
			return
		}
		m, err := c.StartMember(r.Context(), req)
		if err != nil {
			replyErr(w, 0, err)
			return
		}
		reply(w, http.StatusCreated, m)
	})
	mux.HandleFunc("POST /clusters/{id}/terminate-all", func(w http.ResponseWriter, r *http.Request) {
		replyErr(w, http.StatusOK, c.TerminateAll(r.Context(), r.PathValue("id")))
	})
	mux.HandleFunc("GET /members", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, c.Members(r.URL.Query().Get("cluster")))
	})
	mux.HandleFunc("GET /members/{id}", func(w http.ResponseWriter, r *http.Request) {
		m, err := c.Member(r.PathValue("id"))
		replyValue(w, m, err)
	})
	mux.HandleFunc("DELETE /members/{id}", func(w http.ResponseWriter, r *http.Request) {
		forced := false
		if v := r.URL.Query().Get("forced"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				replyErr(w, 0, fmt.Errorf("%w: forced=%q", ErrInvalid, v))
				return
			}
			forced = b
		}
		replyErr(w, http.StatusOK, c.TerminateMember(r.Context(), r.PathValue("id"), forced))
	})
	mux.HandleFunc("GET /topology", func(w http.ResponseWriter, r *http.Request) { reply(w, http.StatusOK, c.Topology()) })
	return mux
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(v); err != nil {
		replyErr(w, 0, fmt.Errorf("%w: body: %w", ErrInvalid, err))
		return false
	}
	return true
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func replyValue(w http.ResponseWriter, v any, err error) {
	if err != nil {
		replyErr(w, 0, err)
		return
	}
	reply(w, http.StatusOK, v)
}

// replyErr writes err with its status, or an empty success with ok when err is nil.
func replyErr(w http.ResponseWriter, ok int, err error) {
	if err == nil {
		w.WriteHeader(ok)
		return
	}
	reply(w, statusOf(err), map[string]string{"error": err.Error()})
}

// statusOf maps the controller's errors to HTTP statuses.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrExists), errors.Is(err, ErrInUse), errors.Is(err, ErrRemoving):
		return http.StatusConflict
	case errors.Is(err, ErrInvalid), errors.Is(err, ErrNoDriver), errors.Is(err, model.ErrInvalidCartridge),
		errors.Is(err, model.ErrInvalidNetworkPartition), errors.Is(err, model.ErrPayload):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotRunning), errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// ErrRemote is wrapped by the errors a Client returns for error statuses that map to none of
// the controller's sentinels.
var ErrRemote = errors.New("controller: remote error")

// Client calls a controller's HTTP API (Handler). It offers the methods an autoscaler or
// manager needs; the changing ones (CreateCluster, StartMember, TerminateMember, ...) have the
// signatures of *Controller, and errors wrap the same sentinels, so either can sit behind the
// consumer's interface.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a client for the API at base (e.g. "http://127.0.0.1:9763/controller").
// hc nil means http.DefaultClient.
func NewClient(base string, hc *http.Client) (*Client, error) {
	if _, err := url.Parse(base); err != nil {
		return nil, fmt.Errorf("controller client: %w", err)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimSuffix(base, "/"), hc: hc}, nil
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("controller client: encode: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("controller client: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("controller client: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&e)
		sentinel := ErrRemote
		switch resp.StatusCode {
		case http.StatusNotFound:
			sentinel = ErrNotFound
		case http.StatusConflict:
			sentinel = ErrInUse
			if strings.Contains(e.Error, ErrExists.Error()) {
				sentinel = ErrExists
			}
		case http.StatusBadRequest:
			sentinel = ErrInvalid
		case http.StatusServiceUnavailable:
			sentinel = ErrNotRunning
		}
		return fmt.Errorf("%w: %s %s: %s: %s", sentinel, method, path, resp.Status, e.Error)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("controller client: %s %s: decode: %w", method, path, err)
		}
	}
	return nil
}

// CreateCluster calls POST /clusters.
func (c *Client) CreateCluster(ctx context.Context, spec ClusterSpec) error {
	return c.do(ctx, http.MethodPost, "/clusters", spec, nil)
}

// CreateApplicationClusters calls POST /applications/{appId}/clusters.
func (c *Client) CreateApplicationClusters(ctx context.Context, appID string, specs []ClusterSpec) error {
	return c.do(ctx, http.MethodPost, "/applications/"+url.PathEscape(appID)+"/clusters", specs, nil)
}

// RemoveApplicationClusters calls DELETE /applications/{appId}/clusters.
func (c *Client) RemoveApplicationClusters(ctx context.Context, appID string) error {
	return c.do(ctx, http.MethodDelete, "/applications/"+url.PathEscape(appID)+"/clusters", nil, nil)
}

// RemoveCluster calls DELETE /clusters/{id}.
func (c *Client) RemoveCluster(ctx context.Context, clusterID string) error {
	return c.do(ctx, http.MethodDelete, "/clusters/"+url.PathEscape(clusterID), nil, nil)
}

// StartMember calls POST /clusters/{id}/members.
func (c *Client) StartMember(ctx context.Context, req StartRequest) (model.Member, error) {
	var m model.Member
	err := c.do(ctx, http.MethodPost, "/clusters/"+url.PathEscape(req.ClusterID)+"/members", req, &m)
	return m, err
}

// TerminateMember calls DELETE /members/{id}?forced=.
func (c *Client) TerminateMember(ctx context.Context, memberID string, forced bool) error {
	return c.do(ctx, http.MethodDelete, "/members/"+url.PathEscape(memberID)+"?forced="+strconv.FormatBool(forced), nil, nil)
}

// TerminateAll calls POST /clusters/{id}/terminate-all.
func (c *Client) TerminateAll(ctx context.Context, clusterID string) error {
	return c.do(ctx, http.MethodPost, "/clusters/"+url.PathEscape(clusterID)+"/terminate-all", nil, nil)
}

// Member calls GET /members/{id}.
func (c *Client) Member(ctx context.Context, memberID string) (model.Member, error) {
	var m model.Member
	err := c.do(ctx, http.MethodGet, "/members/"+url.PathEscape(memberID), nil, &m)
	return m, err
}

// Topology calls GET /topology.
func (c *Client) Topology(ctx context.Context) (*model.Topology, error) {
	var t model.Topology
	if err := c.do(ctx, http.MethodGet, "/topology", nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}
