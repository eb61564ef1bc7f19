package manager

import (
	"context"
	"encoding/json"

	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/policies"
)

// resync tells the platform, at start, what the manager's state holds: every cartridge and
// network partition (added, or updated when the controller kept its own copy; the policy
// directory's when there is one, the stored ones otherwise), and every
// cluster instance of the deployed applications (the autoscaler's RegisterCluster updates an
// instance it knows). A failure is logged: the API still serves, and the next change retries.
func (s *Server) resync(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.opts.Scaler.(applicationsLoaded); ok {
		defer l.ApplicationsLoaded() // after the applications below, even when some failed
	}
	cs, err := s.cartridges()
	if err != nil {
		s.log.Warn("resync: cannot list the cartridges", "err", err)
	}
	for _, c := range cs {
		if err := s.opts.Cartridges.AddCartridge(ctx, c); err != nil {
			if err := s.opts.Cartridges.UpdateCartridge(ctx, c); err != nil {
				s.log.Warn("resync: cannot register the cartridge with the cloud controller", "type", c.Type, "err", err)
			}
		}
	}
	var keys []string
	var values [][]byte
	if s.opts.Policies.Dir() != "" {
		s.resyncDirPartitions(ctx)
	} else if keys, values, err = s.store.rawList(bucketPolicies); err != nil {
		s.log.Warn("resync: cannot list the network partitions", "err", err)
	}
	prefix := string(policies.KindNetworkPartition) + "/"
	for i, k := range keys {
		if len(k) <= len(prefix) || k[:len(prefix)] != prefix {
			continue
		}
		var np model.NetworkPartition
		if err := json.Unmarshal(values[i], &np); err != nil {
			s.log.Warn("resync: cannot restore the network partition", "id", k[len(prefix):], "err", err)
			continue
		}
		if err := s.opts.Partitions.AddNetworkPartition(ctx, np); err != nil {
			if err := s.opts.Partitions.UpdateNetworkPartition(ctx, np); err != nil {
				s.log.Warn("resync: cannot restore the network partition", "id", np.ID, "err", err)
			}
		}
	}
	apps, err := list[applicationRecord](s.store, bucketApplications, "")
	if err != nil {
		s.log.Warn("resync: cannot list the applications", "err", err)
	}
	for i := range apps {
		a := &apps[i]
		if err := s.addToTree(a); err != nil {
			s.log.Warn("resync: cannot give the application to the autoscaler", "application_id", a.Bean.ApplicationID, "err", err)
		}
		if a.Status == statusUndeploying {
			// Stopped during its undeploy: remove what is left (the controller refuses new
			// members in its clusters meanwhile).
			s.log.Info("resuming an undeploy", "application_id", a.Bean.ApplicationID)
			s.removeAutoSignUp(ctx, a)
			s.removeInBackground(*a)
			continue
		}
		if a.Status != statusDeployed {
			continue
		}
		clusters, err := s.buildClusters(a, &policies.Application{NetworkPartitions: a.NetworkPartitions})
		if err != nil {
			s.log.Warn("resync: cannot restore the application", "application_id", a.Bean.ApplicationID, "err", err)
			continue
		}
		if t, ok := s.tree(); ok {
			// The tree is rebuilt over the running cluster instances (their status comes from
			// the topology), and creates in startup order those that were not created yet.
			if err := t.DeployApplication(a.Bean.ApplicationID, a.NetworkPartitions); err != nil {
				s.log.Warn("resync: cannot restore the application", "application_id", a.Bean.ApplicationID, "err", err)
			}
			continue
		}
		for _, c := range clusters {
			for _, in := range c.Instances {
				if err := s.opts.Scaler.RegisterCluster(in); err != nil {
					s.log.Warn("resync: cannot restore the cluster", "cluster_id", in.ClusterID, "err", err)
				}
			}
		}
	}
}
