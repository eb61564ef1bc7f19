package console

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// The API's answers, as far as the console reads them.

type application struct {
	ApplicationID string `json:"applicationId"`
	Alias         string `json:"alias"`
	Name          string `json:"name"`
	Description   string `json:"description"`
	Status        string `json:"status"`
	Components    struct {
		Cartridges []cartridgeRef `json:"cartridges"`
		Groups     []groupRef     `json:"groups"`
	} `json:"components"`
}

type cartridgeRef struct {
	Type             string    `json:"type"`
	CartridgeMin     model.Int `json:"cartridgeMin"`
	CartridgeMax     model.Int `json:"cartridgeMax"`
	SubscribableInfo struct {
		Alias             string `json:"alias"`
		AutoscalingPolicy string `json:"autoscalingPolicy"`
		DeploymentPolicy  string `json:"deploymentPolicy"`
	} `json:"subscribableInfo"`
}

type groupRef struct {
	Name              string         `json:"name"`
	Alias             string         `json:"alias"`
	GroupMinInstances model.Int      `json:"groupMinInstances"`
	GroupMaxInstances model.Int      `json:"groupMaxInstances"`
	Cartridges        []cartridgeRef `json:"cartridges"`
	Groups            []groupRef     `json:"groups"`
}

type runtimeView struct {
	ID                   string `json:"id"`
	Status               string `json:"status"`
	TenantDomain         string `json:"tenantDomain"`
	ApplicationInstances []struct {
		Status           string            `json:"status"`
		InstanceID       string            `json:"instanceId"`
		ClusterInstances []clusterInstance `json:"clusterInstances"`
		GroupInstances   []runtimeGroup    `json:"groupInstances"`
	} `json:"applicationInstances"`
}

// runtimeGroup is a group instance of the runtime view: its cluster instances and nested groups.
type runtimeGroup struct {
	ClusterInstances []clusterInstance `json:"clusterInstances"`
	GroupInstances   []runtimeGroup    `json:"groupInstances"`
}

// runtimeClusters are an application instance's cluster instances and those of its group instances,
// at any depth.
func runtimeClusters(own []clusterInstance, groups []runtimeGroup) []clusterInstance {
	out := append([]clusterInstance(nil), own...)
	for _, g := range groups {
		out = append(out, runtimeClusters(g.ClusterInstances, g.GroupInstances)...)
	}
	return out
}

type clusterInstance struct {
	Status       string   `json:"status"`
	InstanceID   string   `json:"instanceId"`
	Alias        string   `json:"alias"`
	ServiceName  string   `json:"serviceName"`
	ClusterID    string   `json:"clusterId"`
	Member       []member `json:"member"`
	HostNames    []string `json:"hostNames"`
	AccessURLs   []string `json:"accessUrls"`
	StartFailure *struct {
		Reason string `json:"reason"`
	} `json:"startFailure"`
}

type member struct {
	MemberID           string `json:"memberId"`
	ClusterInstanceID  string `json:"clusterInstanceId"`
	NetworkPartitionID string `json:"networkPartitionId"`
	PartitionID        string `json:"partitionId"`
	Status             string `json:"status"`
	DefaultPrivateIP   string `json:"defaultPrivateIP"`
	DefaultPublicIP    string `json:"defaultPublicIP"`
}

type autoscalingPolicy struct {
	ID             string `json:"id"`
	LoadThresholds struct {
		RequestsInFlight  *threshold `json:"requestsInFlight"`
		MemoryConsumption *threshold `json:"memoryConsumption"`
		LoadAverage       *threshold `json:"loadAverage"`
	} `json:"loadThresholds"`
}

type threshold struct {
	Threshold float64 `json:"threshold"`
}

// point is a history bucket (history.Point's fields the console reads).
type point struct {
	Time              time.Time `json:"time"`
	ClusterInstanceID string    `json:"clusterInstanceId"`
	MemberID          string    `json:"memberId"`
	Metric            string    `json:"metric"`
	Count             uint64    `json:"count"`
	Avg               float64   `json:"avg"`
}

// applications lists the applications the session's user may see; the API answers 404 when
// there are none.
func (c *Console) applications(ctx context.Context, s *session) ([]application, error) {
	var apps []application
	err := c.api(ctx, s.creds(), http.MethodGet, "/api/applications", nil, &apps)
	if ae, ok := err.(*apiError); ok && ae.Code == http.StatusNotFound {
		return nil, nil
	}
	return apps, err
}

func (c *Console) application(ctx context.Context, s *session, id string) (application, runtimeView, error) {
	var a application
	var rt runtimeView
	if err := c.api(ctx, s.creds(), http.MethodGet, "/api/applications/"+url.PathEscape(id), nil, &a); err != nil {
		return a, rt, err
	}
	err := c.api(ctx, s.creds(), http.MethodGet, "/api/applications/"+url.PathEscape(id)+"/runtime", nil, &rt)
	return a, rt, err
}

// history queries /api/history/<what> for a cluster.
func (c *Console) history(ctx context.Context, s *session, what string, q url.Values, out any) error {
	return c.api(ctx, s.creds(), http.MethodGet, "/api/history/"+what+"?"+q.Encode(), nil, out)
}
