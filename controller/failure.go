package controller

import (
	"context"
	"errors"
	"time"

	"github.com/strata-paas/strata/internal/model"
)

// StartFailure says why the last attempt to start a member of a cluster failed: the start
// request was refused (an unknown network partition or partition, no driver), the driver's Start
// failed, or the instance ended on its own before its member became Active. It stays until a
// member of the cluster becomes Active, so an operator (the manager's runtime view, `strata
// deploy-app`) sees the reason instead of a cluster that never grows.
type StartFailure struct {
	ClusterID          string    `json:"clusterId"`
	ClusterInstanceID  string    `json:"clusterInstanceId,omitempty"`
	NetworkPartitionID string    `json:"networkPartitionId,omitempty"`
	PartitionID        string    `json:"partitionId,omitempty"`
	MemberID           string    `json:"memberId,omitempty"` // empty when no member was created
	Reason             string    `json:"reason"`
	Time               time.Time `json:"time"`
	// Failures counts the failed starts since a member of the cluster was last Active.
	Failures int `json:"failures"`
}

// StartFailure returns the cluster's last start failure, if no member became Active since.
func (c *Controller) StartFailure(clusterID string) (StartFailure, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cl := c.clusters[clusterID]
	if cl == nil || cl.startFailure == nil {
		return StartFailure{}, false
	}
	return *cl.startFailure, true
}

// startFailedLocked records a failed start of a member of a cluster. A start the caller gave up
// (its context ended) or one cut short by the controller closing is no failure of the member.
func (c *Controller) startFailedLocked(req StartRequest, memberID string, err error) {
	cl := c.clusters[req.ClusterID]
	if cl == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrClosed) {
		return
	}
	n := 1
	if cl.startFailure != nil {
		n = cl.startFailure.Failures + 1
	}
	cl.startFailure = &StartFailure{ClusterID: req.ClusterID, ClusterInstanceID: req.ClusterInstanceID,
		NetworkPartitionID: req.NetworkPartitionID, PartitionID: req.PartitionID, MemberID: memberID,
		Reason: err.Error(), Time: c.clock.Now().UTC(), Failures: n}
}

// exitedEarlyLocked records a member whose instance ended before the member became Active as a
// failed start: the instance's command could not run (an unknown image or program), or crashed.
func (c *Controller) exitedEarlyLocked(m *model.Member, reason string) {
	switch m.Status() {
	case model.MemberCreated, model.MemberInitialized, model.MemberStarting:
	default:
		return
	}
	if reason == "" {
		reason = "unknown reason"
	}
	c.startFailedLocked(StartRequest{ClusterID: m.ClusterID, ClusterInstanceID: m.ClusterInstanceID,
		NetworkPartitionID: m.NetworkPartitionID, PartitionID: m.PartitionID},
		m.MemberID, errors.New("member "+m.MemberID+" ended before it became active: "+reason))
}
