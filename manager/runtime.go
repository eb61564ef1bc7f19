package manager

import (
	"net/http"
	"slices"
	"sort"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/strata-paas/strata/internal/model"
)

func (s *Server) getApplicationNetworkPartitions(w http.ResponseWriter, r *http.Request) {
	a, ok := s.loadApplication(w, r)
	if !ok {
		return
	}
	ids := []string{}
	if ap, ok := s.opts.Policies.Set().Application(a.ApplicationPolicy); ok {
		ids = ap.NetworkPartitions
	}
	writeJSON(w, http.StatusOK, applicationNetworkPartitions{NetworkPartitionIDs: ids})
}

// Runtime view (§5.11).

type applicationInfoBean struct {
	ID                   string                `json:"id"`
	Name                 string                `json:"name,omitempty"`
	Status               string                `json:"status"`
	Description          string                `json:"description,omitempty"`
	TenantDomain         string                `json:"tenantDomain"`
	TenantAdminUsername  string                `json:"tenantAdminUsername,omitempty"`
	ApplicationInstances []applicationInstance `json:"applicationInstances"`
	// Next, on a page (?limit=), is the after of the next page when more members follow
	// (Strata's addition).
	Next string `json:"next,omitempty"`
}

type applicationInstance struct {
	Status           string            `json:"status"`
	InstanceID       string            `json:"instanceId"`
	ApplicationID    string            `json:"applicationId"`
	GroupInstances   []any             `json:"groupInstances"`
	ClusterInstances []clusterInstance `json:"clusterInstances"`
}

type clusterInstance struct {
	Status           string       `json:"status"`
	InstanceID       string       `json:"instanceId"`
	ParentInstanceID string       `json:"parentInstanceId,omitempty"`
	Alias            string       `json:"alias,omitempty"`
	ServiceName      string       `json:"serviceName"`
	ClusterID        string       `json:"clusterId"`
	Member           []memberBean `json:"member"`
	TenantRange      string       `json:"tenantRange,omitempty"`
	HostNames        []string     `json:"hostNames"`
	AccessURLs       []string     `json:"accessUrls"`
	// KubernetesServices are the services that front the cluster on Kubernetes (§5.11).
	KubernetesServices []model.KubernetesService `json:"kubernetesServices"`
	LoadBalancerIPs    []string                  `json:"loadBalancerIps"`
	// StartFailure is why the last start of a member of the instance failed, while none
	// became Active since (Strata's addition to Stratos' bean).
	StartFailure *StartFailure `json:"startFailure,omitempty"`
	// MemberCounts are the instance's members by state, all of them also on a page that lists
	// only some (Strata's addition).
	MemberCounts map[string]int `json:"memberCounts,omitempty"`
}

type memberBean struct {
	ServiceName        string       `json:"serviceName"`
	ClusterID          string       `json:"clusterId"`
	ClusterInstanceID  string       `json:"clusterInstanceId,omitempty"`
	NetworkPartitionID string       `json:"networkPartitionId,omitempty"`
	PartitionID        string       `json:"partitionId,omitempty"`
	MemberID           string       `json:"memberId"`
	InstanceID         string       `json:"instanceId,omitempty"`
	Status             string       `json:"status"`
	DefaultPrivateIP   string       `json:"defaultPrivateIP,omitempty"`
	MemberPrivateIPs   []string     `json:"memberPrivateIPs,omitempty"`
	LbClusterID        string       `json:"lbClusterId,omitempty"`
	DefaultPublicIP    string       `json:"defaultPublicIP,omitempty"`
	MemberPublicIPs    []string     `json:"memberPublicIPs,omitempty"`
	Ports              []model.Port `json:"ports,omitempty"`
}

// ApplicationPage is one page of an application's clusters (the controller's
// controller.ApplicationPage, same field names): copies of the clusters whose MemberMap holds
// only the page's members, the member counts of every cluster instance (cluster id, instance id,
// state) and the next page's after, or "".
type ApplicationPage struct {
	Clusters []*model.Cluster
	Counts   map[string]map[string]map[string]int
	Next     string
}

// applicationPager is what a ClusterManager offers for paged runtime views: a page costs the
// members it lists, not a copy of the whole topology.
type applicationPager interface {
	ApplicationPage(appID, after string, limit int) ApplicationPage
}

// pageQuery is a runtime view's ?limit=&after=.
type pageQuery struct {
	limit int
	after string
}

// maxPage bounds ?limit=.
const maxPage = 10000

// parsePage reads ?limit= (0 to maxPage: members per page; 0 lists none, only the counts) and
// ?after= (the last member id of the previous page); nil without limit: every member.
func parsePage(r *http.Request) (*pageQuery, bool) {
	q := r.URL.Query()
	if !q.Has("limit") {
		return nil, true
	}
	n, err := strconv.Atoi(q.Get("limit"))
	if err != nil || n < 0 || n > maxPage {
		return nil, false
	}
	return &pageQuery{limit: n, after: q.Get("after")}, true
}

// runtime builds the runtime view of an application from the topology, with every member, or
// only those of pg.
func (s *Server) runtime(a *applicationRecord, pg *pageQuery) applicationInfoBean {
	info := applicationInfoBean{ID: a.Bean.ApplicationID, Name: a.Bean.Name, Status: string(model.ApplicationCreated),
		Description: a.Bean.Description, TenantDomain: a.TenantDomain, TenantAdminUsername: a.Owner,
		ApplicationInstances: []applicationInstance{}}
	clusters, counts, next := s.runtimeClusters(a.Bean.ApplicationID, pg)
	info.Next = next
	instances := map[string]*applicationInstance{}
	states := map[*applicationInstance]*instanceStates{}
	byInstance := map[[2]string]clusterInstance{} // by cluster id and instance id, for the tree
	alias := map[string]string{}
	a.Bean.walkCartridges(func(c *cartridgeRef, _ string) {
		alias[model.ClusterID(a.Bean.ApplicationID, c.SubscribableInfo.Alias, c.Type)] = c.SubscribableInfo.Alias
	})
	for _, c := range clusters {
		ids := map[string]bool{}
		for id := range c.InstanceIDToInstanceContextMap {
			ids[id] = true
		}
		// A start refused before its cluster instance was created still shows, on the instance
		// the autoscaler asked for.
		failure, failed := s.opts.Clusters.StartFailure(c.ClusterID)
		if failed && failure.ClusterInstanceID != "" {
			ids[failure.ClusterInstanceID] = true
		}
		for _, m := range c.MemberMap {
			if m.ClusterInstanceID != "" {
				ids[m.ClusterInstanceID] = true
			}
		}
		for id := range counts[c.ClusterID] {
			if id != "" {
				ids[id] = true
			}
		}
		sorted := make([]string, 0, len(ids))
		for id := range ids {
			sorted = append(sorted, id)
		}
		sort.Strings(sorted)
		for _, iid := range sorted {
			ci := clusterInstance{InstanceID: iid, ParentInstanceID: iid, Alias: alias[c.ClusterID], ServiceName: c.ServiceName,
				ClusterID: c.ClusterID, Member: []memberBean{}, TenantRange: c.TenantRange,
				HostNames: nonNil(c.HostNames), AccessURLs: []string{}, LoadBalancerIPs: nonNil(c.LoadBalancerIPs), Status: string(model.ClusterCreated),
				KubernetesServices: append([]model.KubernetesService{}, c.KubernetesServices...)}
			if inst := c.InstanceIDToInstanceContextMap[iid]; inst != nil {
				ci.Status = string(inst.Status())
				if inst.ParentID != "" {
					ci.ParentInstanceID = inst.ParentID
				}
			}
			for _, u := range c.AccessURLs {
				ci.AccessURLs = append(ci.AccessURLs, u...)
			}
			if failed && (failure.ClusterInstanceID == "" || failure.ClusterInstanceID == iid) {
				ci.StartFailure = &failure
			}
			if byState := counts[c.ClusterID][iid]; len(byState) > 0 {
				ci.MemberCounts = byState
			}
			for _, m := range c.MemberMap {
				if m.ClusterInstanceID != iid {
					continue
				}
				ci.Member = append(ci.Member, memberBeanOf(m))
			}
			sort.Slice(ci.Member, func(i, j int) bool { return ci.Member[i].MemberID < ci.Member[j].MemberID })
			ai := instances[ci.ParentInstanceID]
			if ai == nil {
				ai = &applicationInstance{InstanceID: ci.ParentInstanceID, ApplicationID: a.Bean.ApplicationID,
					GroupInstances: []any{}}
				instances[ci.ParentInstanceID] = ai
				states[ai] = &instanceStates{}
			}
			states[ai].add(c.InstanceIDToInstanceContextMap[iid])
			ai.ClusterInstances = append(ai.ClusterInstances, ci)
			byInstance[[2]string{c.ClusterID, iid}] = ci
		}
	}
	keys := make([]string, 0, len(instances))
	for k := range instances {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var all instanceStates
	for _, k := range keys {
		ai := instances[k]
		st := states[ai]
		ai.Status = string(st.status(a.Status == statusUndeploying))
		all.merge(st)
		info.ApplicationInstances = append(info.ApplicationInstances, *ai)
	}
	if a.Status != statusCreated {
		info.Status = string(all.status(a.Status == statusUndeploying))
	}
	s.runtimeTree(&info, a, byInstance)
	return info
}

// instanceStates sums up the cluster instances below an application (instance), whose runtime
// status Stratos derives from them: Active when every one is Active, Terminating while it is
// undeployed, Inactive when one that was Active is no longer, Created before that.
type instanceStates struct {
	total, active, terminating, wasActive int
}

func (st *instanceStates) add(ci *model.ClusterInstance) {
	st.total++
	if ci == nil {
		return
	}
	switch ci.Status() {
	case model.ClusterActive:
		st.active++
	case model.ClusterTerminating, model.ClusterTerminated:
		st.terminating++
	}
	if slices.Contains(ci.LifeCycleStateManager.StateStack, model.ClusterActive) {
		st.wasActive++
	}
}

func (st *instanceStates) merge(o *instanceStates) {
	st.total += o.total
	st.active += o.active
	st.terminating += o.terminating
	st.wasActive += o.wasActive
}

func (st *instanceStates) status(undeploying bool) model.ApplicationStatus {
	switch {
	case undeploying || st.terminating > 0:
		return model.ApplicationTerminating
	case st.total > 0 && st.active == st.total:
		return model.ApplicationActive
	case st.wasActive > 0:
		return model.ApplicationInactive
	}
	return model.ApplicationCreated
}

// runtimeClusters returns the application's clusters, sorted by id, with every member (pg nil)
// or a page of them, the member counts (cluster id, instance id, state) and the next page's
// after.
func (s *Server) runtimeClusters(appID string, pg *pageQuery) ([]*model.Cluster, map[string]map[string]map[string]int, string) {
	if pager, ok := s.opts.Clusters.(applicationPager); ok {
		// Without a page, every member (limit < 0): still only this application's clusters
		// are copied, not the whole topology.
		after, limit := "", -1
		if pg != nil {
			after, limit = pg.after, pg.limit
		}
		p := pager.ApplicationPage(appID, after, limit)
		return p.Clusters, p.Counts, p.Next
	}
	top := s.opts.Clusters.Topology()
	if top == nil {
		return nil, nil, ""
	}
	var clusters []*model.Cluster
	for _, svc := range top.ServiceMap {
		for _, c := range svc.ClusterIDClusterMap {
			if c.AppID == appID {
				clusters = append(clusters, c)
			}
		}
	}
	for _, c := range top.ClusterMap {
		if c.AppID == appID && !slices.Contains(clusters, c) {
			clusters = append(clusters, c)
		}
	}
	sort.Slice(clusters, func(i, j int) bool { return clusters[i].ClusterID < clusters[j].ClusterID })
	counts := map[string]map[string]map[string]int{}
	for _, c := range clusters {
		byInstance := map[string]map[string]int{}
		counts[c.ClusterID] = byInstance
		for _, m := range c.MemberMap {
			if byInstance[m.ClusterInstanceID] == nil {
				byInstance[m.ClusterInstanceID] = map[string]int{}
			}
			byInstance[m.ClusterInstanceID][string(m.Status())]++
		}
	}
	if pg == nil {
		return clusters, counts, ""
	}
	// A ClusterManager without pages (a test's fake): the page is cut from the whole topology.
	var ids []string
	for _, c := range clusters {
		for id := range c.MemberMap {
			if id > pg.after {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	next := ""
	if len(ids) > pg.limit {
		ids = ids[:pg.limit]
		if pg.limit > 0 {
			next = ids[len(ids)-1]
		}
	}
	keep := map[string]bool{}
	for _, id := range ids {
		keep[id] = true
	}
	for _, c := range clusters {
		for id := range c.MemberMap {
			if !keep[id] {
				delete(c.MemberMap, id)
			}
		}
	}
	return clusters, counts, next
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Server) getRuntime(w http.ResponseWriter, r *http.Request) {
	a, ok := s.loadApplication(w, r)
	if !ok {
		return
	}
	pg, ok := parsePage(r)
	if !ok {
		writeError(w, http.StatusBadRequest, "limit must be a number from 0 to "+strconv.Itoa(maxPage))
		return
	}
	if pager, ok := s.opts.Clusters.(instancePager); ok && pg == nil && s.streamRuntime(w, a, pager) {
		return
	}
	writeJSON(w, http.StatusOK, s.runtime(a, pg))
}

func (s *Server) getCluster(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "clusterId")
	u, _ := UserFrom(r.Context())
	top := s.opts.Clusters.Topology()
	var c *model.Cluster
	if top != nil {
		c = top.Cluster(id)
	}
	if c == nil {
		writeError(w, http.StatusNotFound, "Cluster not found: [cluster-id] "+id)
		return
	}
	var a applicationRecord
	if err := s.store.get(bucketApplications, c.AppID, &a); err != nil || !visible(u, &a) {
		writeError(w, http.StatusNotFound, "Cluster not found: [cluster-id] "+id)
		return
	}
	for _, ai := range s.runtime(&a, nil).ApplicationInstances {
		for _, ci := range ai.ClusterInstances {
			if ci.ClusterID == id {
				writeJSON(w, http.StatusOK, ci)
				return
			}
		}
	}
	writeJSON(w, http.StatusOK, clusterInstance{ClusterID: id, ServiceName: c.ServiceName, Member: []memberBean{}, HostNames: nonNil(c.HostNames),
		AccessURLs: []string{}, LoadBalancerIPs: []string{}, KubernetesServices: append([]model.KubernetesService{}, c.KubernetesServices...)})
}
