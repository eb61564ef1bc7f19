package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"
)

// Runtime is the part of GET /applications/{id}/runtime the client shows.
type Runtime struct {
	ID                   string            `json:"id"`
	Status               string            `json:"status"`
	ApplicationInstances []RuntimeInstance `json:"applicationInstances"`
}

// RuntimeInstance is an application instance of the runtime view.
type RuntimeInstance struct {
	InstanceID       string           `json:"instanceId"`
	Status           string           `json:"status"`
	GroupInstances   []RuntimeGroup   `json:"groupInstances"`
	ClusterInstances []RuntimeCluster `json:"clusterInstances"`
}

// RuntimeGroup is a group instance, with its own cluster instances and nested group instances.
type RuntimeGroup struct {
	GroupID          string           `json:"groupId"`
	InstanceID       string           `json:"instanceId"`
	Status           string           `json:"status"`
	GroupInstances   []RuntimeGroup   `json:"groupInstances"`
	ClusterInstances []RuntimeCluster `json:"clusterInstances"`
}

// RuntimeCluster is a cluster instance of the runtime view.
type RuntimeCluster struct {
	InstanceID  string `json:"instanceId"`
	Status      string `json:"status"`
	Alias       string `json:"alias"`
	ServiceName string `json:"serviceName"`
	ClusterID   string `json:"clusterId"`
	// StartFailure is why the last start of a member failed (none Active since).
	StartFailure *struct {
		NetworkPartitionID string     `json:"networkPartitionId"`
		PartitionID        string     `json:"partitionId"`
		Reason             string     `json:"reason"`
		Time               time.Time  `json:"time"`
		Failures           int        `json:"failures"`
		QuickFailures      int        `json:"quickFailures"`
		BackoffUntil       *time.Time `json:"backoffUntil"`
		Failing            bool       `json:"failing"`
	} `json:"startFailure"`
	// MemberCounts are the instance's members by state (Strata's addition), also on a
	// page that lists only some members or none.
	MemberCounts map[string]int `json:"memberCounts"`
	Member       []struct {
		MemberID           string `json:"memberId"`
		Status             string `json:"status"`
		NetworkPartitionID string `json:"networkPartitionId"`
		PartitionID        string `json:"partitionId"`
		DefaultPrivateIP   string `json:"defaultPrivateIP"`
	} `json:"member"`
}

// Clusters are the instance's cluster instances: its own, then those of its group instances,
// depth first.
func (ai *RuntimeInstance) Clusters() []RuntimeCluster {
	out := append([]RuntimeCluster(nil), ai.ClusterInstances...)
	var walk func(gs []RuntimeGroup)
	walk = func(gs []RuntimeGroup) {
		for i := range gs {
			out = append(out, gs[i].ClusterInstances...)
			walk(gs[i].GroupInstances)
		}
	}
	walk(ai.GroupInstances)
	return out
}

// Counts returns the active and total members and cluster instances, the members from each
// cluster instance's memberCounts (so a view with ?limit=0 has them all), or from its listed
// members when the view has no counts.
func (r *Runtime) Counts() (activeMembers, members, activeClusters, clusters int) {
	for _, ai := range r.ApplicationInstances {
		for _, ci := range ai.Clusters() {
			clusters++
			if ci.Status == "Active" {
				activeClusters++
			}
			for state, n := range ci.byState() {
				members += n
				if state == "Active" {
					activeMembers += n
				}
			}
		}
	}
	return
}

// StartFailure describes the first cluster instance whose members cannot be started, or is "".
func (r *Runtime) StartFailure() string {
	for _, ai := range r.ApplicationInstances {
		for _, ci := range ai.Clusters() {
			f := ci.StartFailure
			if f == nil {
				continue
			}
			where := ci.ClusterID + " instance " + ci.InstanceID
			if f.PartitionID != "" {
				where += " (partition " + f.NetworkPartitionID + "/" + f.PartitionID + ")"
			}
			why := fmt.Sprintf("cannot start a member of cluster %s: %s (%d failed starts, last at %s)",
				where, f.Reason, f.Failures, f.Time.Local().Format(time.TimeOnly))
			if f.BackoffUntil != nil {
				why += fmt.Sprintf("; crash-loop back-off until %s after %d quick failures", f.BackoffUntil.Local().Format(time.TimeOnly), f.QuickFailures)
				if f.Failing {
					why += ", failing"
				}
			}
			return why
		}
	}
	return ""
}

// WriteTable writes the application's status and a table of its cluster instances and members.
func (r *Runtime) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "application %s: %s\n", r.ID, r.Status)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tALIAS\tCARTRIDGE\tCLUSTER STATUS\tMEMBER\tMEMBER STATUS\tPARTITION\tIP")
	for _, ai := range r.ApplicationInstances {
		for _, ci := range ai.Clusters() {
			if len(ci.Member) == 0 {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\t-\t-\t-\n", ci.InstanceID, ci.Alias, ci.ServiceName, ci.Status)
			}
			for _, m := range ci.Member {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s/%s\t%s\n", ci.InstanceID, ci.Alias, ci.ServiceName, ci.Status,
					m.MemberID, m.Status, m.NetworkPartitionID, m.PartitionID, m.DefaultPrivateIP)
			}
		}
	}
	return tw.Flush()
}

// Deployed is a Converge condition: the application is deployed, with every cluster instance
// and every member active.
func Deployed(status string, rv *Runtime) bool {
	am, m, ac, cl := rv.Counts()
	return status == "Active" && cl > 0 && ac == cl && am > 0 && am == m
}

// Converge says how Client.Converge waits.
type Converge struct {
	Timeout time.Duration // how long to wait; 0 or less: do not wait
	Poll    time.Duration // how often to read the runtime view
	// FailOnStart stops at the first start failure the runtime view reports, with its reason,
	// instead of waiting out the timeout for members that cannot start.
	FailOnStart bool
	// Done is the condition; the status is "Removed" once the application is gone.
	Done     func(status string, rv *Runtime) bool
	Progress io.Writer // a line each time the counts change
}

// Converge polls the application's runtime view until o.Done says so, printing progress to
// o.Progress when it changes.
func (c *Client) Converge(ctx context.Context, app string, o Converge) error {
	if o.Timeout <= 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	last := ""
	start := time.Now()
	for {
		var rv Runtime
		// ?limit=0: the counts and start failures without the members, cheap at any size.
		err := c.Call(ctx, http.MethodGet, "/applications/"+url.PathEscape(app)+"/runtime?limit=0", nil, &rv)
		var ae *APIError
		if errors.As(err, &ae) && ae.Code == http.StatusNotFound {
			rv.Status, err = "Removed", nil
		}
		if err != nil {
			return err
		}
		am, m, ac, cl := rv.Counts()
		line := fmt.Sprintf("%s: clusters active %d/%d, members active %d/%d", rv.Status, ac, cl, am, m)
		if line != last {
			fmt.Fprintf(o.Progress, "[%5.0fs] %s %s\n", time.Since(start).Seconds(), app, line)
			last = line
		}
		if o.Done(rv.Status, &rv) {
			return nil
		}
		if why := rv.StartFailure(); o.FailOnStart && why != "" {
			return fmt.Errorf("%s %s; the autoscaler keeps trying: fix the cause, or run strata undeploy %s", app, why, app)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not converge within %s (last: %s)", app, o.Timeout, last)
		case <-time.After(o.Poll):
		}
	}
}
