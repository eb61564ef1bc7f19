package manager

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/strata-paas/strata/internal/model"
)

// The full runtime view (GET /applications/{id}/runtime without ?limit=) of a large application
// is streamed: the view is built without members (what ?limit=0 shows: instances, statuses,
// counts), encoded, and each cluster instance's "member":[] is filled with its members read from
// the controller a page of streamPage at a time (instancePager), each page encoded and written
// out before the next is read. The controller's lock is held for one page, not for a copy of
// every member, and the answer never sits whole in one buffer. Members that come or go while the
// view streams may be missed or listed, as between two pages of ?limit=; the counts are those of
// the start.

// streamPage is how many members the streamed view reads and writes at a time.
const streamPage = 1000

// instancePager is what a ClusterManager offers for the streamed view: the members of one
// cluster instance whose ids sort after after, at most limit, in id order, each handed to visit
// (which keeps none) under the platform's lock; it returns how many it visited.
type instancePager interface {
	EachInstanceMember(clusterID, instanceID, after string, limit int, visit func(m *model.Member)) int
}

// emptyMembers is how a cluster instance's member list of a view without members encodes.
var emptyMembers = []byte(`"member":[]`)

// streamRuntime writes a's full runtime view to w, streaming the members from pager. It
// reports false, having written nothing, when the view cannot be streamed (the caller then
// writes it whole).
func (s *Server) streamRuntime(w http.ResponseWriter, a *applicationRecord, pager instancePager) bool {
	info := s.runtime(a, &pageQuery{limit: 0})
	var order []*clusterInstance // in the order encoding/json writes them
	for i := range info.ApplicationInstances {
		ai := &info.ApplicationInstances[i]
		order = appendGroupInstances(order, ai.GroupInstances)
		for j := range ai.ClusterInstances {
			order = append(order, &ai.ClusterInstances[j])
		}
	}
	b, err := json.Marshal(info)
	if err != nil {
		return false
	}
	// A key is written with its quotes unescaped, a string value's quotes are escaped: the only
	// `"member":[]` are the member lists, one per cluster instance.
	parts := bytes.Split(b, emptyMembers)
	if len(parts) != len(order)+1 {
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	out := bufio.NewWriterSize(w, 64<<10)
	// A page is encoded into page (under the platform's lock, so that a slow client does not
	// hold it) with one encoder and one port list for every member, then written out: the view
	// costs a page of bytes, not a copy and an encoding of every member (issue 17).
	var page bytes.Buffer
	enc := json.NewEncoder(&page)
	var ports []model.Port
	var mb memberBean
	for i, ci := range order {
		_, _ = out.Write(parts[i])
		_, _ = out.WriteString(`"member":[`)
		n := 0
		var encErr error
		for after := ""; ; {
			page.Reset()
			visited := pager.EachInstanceMember(ci.ClusterID, ci.InstanceID, after, streamPage, func(m *model.Member) {
				if encErr != nil {
					return
				}
				if n > 0 {
					page.WriteByte(',')
				}
				n++
				mb, ports = memberBeanInto(m, ports[:0])
				if encErr = enc.Encode(&mb); encErr == nil {
					page.Truncate(page.Len() - 1) // Encode's line break
				}
				after = m.MemberID
			})
			if encErr != nil {
				return true // a member the encoder refuses: the answer is cut short, as a broken connection cuts it
			}
			_, _ = out.Write(page.Bytes())
			if visited < streamPage {
				break
			}
			if out.Flush() != nil {
				return true // the client went away
			}
		}
		_ = out.WriteByte(']')
	}
	_, _ = out.Write(parts[len(parts)-1])
	_ = out.WriteByte('\n') // as json.Encoder ends a document
	_ = out.Flush()
	return true
}

// appendGroupInstances appends the cluster instances of groups and their nested groups in the
// order encoding/json writes them: a group's groups before its cluster instances.
func appendGroupInstances(order []*clusterInstance, groups []any) []*clusterInstance {
	for _, g := range groups {
		gi, ok := g.(groupInstance)
		if !ok {
			continue
		}
		order = appendGroupInstances(order, gi.GroupInstances)
		for j := range gi.ClusterInstances {
			order = append(order, &gi.ClusterInstances[j])
		}
	}
	return order
}

// memberBeanOf is a member as the runtime view shows it, its ports in proxy port order.
func memberBeanOf(m *model.Member) memberBean {
	mb, _ := memberBeanInto(m, nil)
	return mb
}

// memberBeanInto is memberBeanOf with the ports appended to ports, which it returns for reuse.
func memberBeanInto(m *model.Member, ports []model.Port) (memberBean, []model.Port) {
	mb := memberBean{ServiceName: m.ServiceName, ClusterID: m.ClusterID, ClusterInstanceID: m.ClusterInstanceID,
		NetworkPartitionID: m.NetworkPartitionID, PartitionID: m.PartitionID, MemberID: m.MemberID,
		InstanceID: m.InstanceID, Status: string(m.Status()), DefaultPrivateIP: m.DefaultPrivateIP,
		MemberPrivateIPs: m.MemberPrivateIPs, LbClusterID: m.LbClusterID, DefaultPublicIP: m.DefaultPublicIP,
		MemberPublicIPs: m.MemberPublicIPs}
	for _, p := range m.PortMap {
		ports = append(ports, p)
	}
	slices.SortFunc(ports, func(a, b model.Port) int { return cmp.Compare(a.Proxy, b.Proxy) })
	if len(ports) > 0 {
		mb.Ports = ports
	}
	return mb, ports
}
