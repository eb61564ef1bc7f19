package controller

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"

	"github.com/strata-paas/strata/internal/model"
)

// The CompleteTopologyEvent is ~880 B per member: at 20 000 members encoding/json took seconds
// for it on a loaded machine, because every level of the topology has a MarshalJSON method
// whose output the level above checks and copies again, and because it encoded every member
// even when a handful had changed (issue 17). So the controller keeps each member's JSON
// (member.enc) until the member changes (member.changed) and assembles the event from those
// bytes and the few services and clusters, encoded without their members: a topology in which k
// members changed costs k member encodings and a copy, the bytes are the same as encoding/json's.

// memberPart is a member of a topology being encoded: its cached JSON, or a copy to encode.
type memberPart struct {
	id    string
	mem   *member
	rev   uint64        // mem.rev when the part was taken
	body  []byte        // the member's JSON, when cached
	clone *model.Member // a copy to encode, when not
	at    int           // where assembleTopology wrote body
}

// topologyParts is what the publisher needs to encode a CompleteTopologyEvent without holding
// the controller's lock: the services and clusters without their members, and each cluster's
// members.
type topologyParts struct {
	skeleton *model.Topology         // clusters with empty member maps
	members  map[string][]memberPart // by cluster id
}

// changed records that mem.m changed: its cached JSON is stale. Call it, under mu, wherever a
// member's fields change.
func (mem *member) changed() {
	mem.rev++
	mem.enc = nil
}

// newTopologyParts returns empty parts with room for n services.
func newTopologyParts(n int) *topologyParts {
	return &topologyParts{
		skeleton: &model.Topology{ClusterMap: map[string]*model.Cluster{}, ServiceMap: make(map[string]*model.Service, n)},
		members:  map[string][]memberPart{},
	}
}

// topologyPartsLocked takes the parts of the current topology.
func (c *Controller) topologyPartsLocked() *topologyParts {
	p := newTopologyParts(len(c.cartridges))
	for typ, ct := range c.cartridges {
		p.skeleton.ServiceMap[typ] = serviceOf(ct)
	}
	for id, cl := range c.clusters {
		c.addClusterPartLocked(p, id, cl)
	}
	return p
}

// addClusterPartLocked adds a cluster to the parts, under its service, which p must hold.
func (c *Controller) addClusterPartLocked(p *topologyParts, id string, cl *cluster) {
	s := p.skeleton.ServiceMap[cl.Spec.ServiceName]
	if s == nil { // cannot happen: a used cartridge cannot be removed
		return
	}
	s.ClusterIDClusterMap[id] = cloneCluster(cl.Cluster, false)
	parts := make([]memberPart, 0, len(cl.Cluster.MemberMap))
	for mid, m := range cl.Cluster.MemberMap {
		mp := memberPart{id: mid, mem: c.members[mid]}
		switch {
		case mp.mem == nil || mp.mem.m != m: // cannot happen: MemberMap and members agree
			mp.mem, mp.clone = nil, cloneMember(m)
		case mp.mem.enc != nil:
			mp.rev, mp.body = mp.mem.rev, mp.mem.enc
		default:
			mp.rev, mp.clone = mp.mem.rev, snapshotMember(m)
		}
		parts = append(parts, mp)
	}
	p.members[id] = parts
}

// snapshotMember is a copy of m to encode without mu: its fields, sharing its maps and the
// backing arrays of its slices. That is safe because the controller never changes a member's
// maps or slice elements once the member is recorded: it replaces them (setAddresses, the port
// map of portMapOf) or appends to the state stack beyond the copy's length. cloneMember's copies
// of the maps made ~500 B a changed member (50 MB for a topology asked for while 100 000 members
// are deployed, issue 17).
func snapshotMember(m *model.Member) *model.Member {
	cp := *m
	return &cp
}

// encodeTopology encodes the CompleteTopologyEvent of p. Each member that did not change
// meanwhile keeps its JSON for the next one as a slice of the event's bytes, which the publisher
// caches anyway: the members' own copies, ~1 KB a member, are garbage then (issue 17).
func (c *Controller) encodeTopology(p *topologyParts) ([]byte, error) {
	for _, parts := range p.members {
		for i := range parts {
			mp := &parts[i]
			if mp.body != nil {
				continue
			}
			b, err := mp.clone.MarshalJSON() // not json.Marshal: see model.Marshal
			if err != nil {
				return nil, fmt.Errorf("encode member %s: %w", mp.id, err)
			}
			mp.body, mp.clone = b, nil
		}
		slices.SortFunc(parts, func(a, b memberPart) int { return strings.Compare(a.id, b.id) })
	}
	out, err := assembleTopology(p)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	for _, parts := range p.members {
		for _, mp := range parts {
			if mp.mem != nil && mp.mem.rev == mp.rev {
				end := mp.at + len(mp.body)
				mp.mem.enc = out[mp.at:end:end] // full: an append copies
			}
		}
	}
	c.mu.Unlock()
	return out, nil
}

// The keys the assembly fills in: encoding/json writes them once per object, as {} for the
// empty maps of the skeleton, and no string value can contain them (its quotes are escaped).
var (
	keyServiceMap = []byte(`"serviceMap":{}`)
	keyClusterMap = []byte(`"clusterIdClusterMap":{}`)
	keyMemberMap  = []byte(`"memberMap":{}`)
)

// assembleTopology writes the event as model.Marshal does, with every map in key order.
func assembleTopology(p *topologyParts) ([]byte, error) {
	size := 1024
	for _, parts := range p.members {
		for _, mp := range parts {
			size += len(mp.body) + len(mp.id) + 4
		}
	}
	out := make([]byte, 0, size)
	outer, err := model.Marshal(&model.CompleteTopologyEvent{Topology: &model.Topology{ClusterMap: p.skeleton.ClusterMap}})
	if err != nil {
		return nil, err
	}
	var errs []error
	out, err = splice(out, outer, keyServiceMap, sortedKeys(p.skeleton.ServiceMap), func(out []byte, name string) []byte {
		s := p.skeleton.ServiceMap[name]
		clusters := s.ClusterIDClusterMap
		s.ClusterIDClusterMap = nil
		sb, err := json.Marshal(s)
		s.ClusterIDClusterMap = clusters
		if err != nil {
			errs = append(errs, err)
			return out
		}
		out, err = splice(out, sb, keyClusterMap, sortedKeys(clusters), func(out []byte, id string) []byte {
			cb, err := json.Marshal(clusters[id]) // its member map is empty
			if err != nil {
				errs = append(errs, err)
				return out
			}
			parts := p.members[id]
			i := 0
			out, err = splice(out, cb, keyMemberMap, func(yield func(string) bool) {
				for _, mp := range parts {
					if !yield(mp.id) {
						return
					}
				}
			}, func(out []byte, _ string) []byte {
				parts[i].at = len(out)
				out = append(out, parts[i].body...)
				i++
				return out
			})
			if err != nil {
				errs = append(errs, err)
			}
			return out
		})
		if err != nil {
			errs = append(errs, err)
		}
		return out
	})
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("encode complete topology: %w", err)
	}
	return out, nil
}

// splice appends src to out with the empty map at key replaced by the entries keys lists, each
// value written by value.
func splice(out, src, key []byte, keys func(yield func(string) bool), value func(out []byte, key string) []byte) ([]byte, error) {
	at := bytes.Index(src, key)
	if at < 0 {
		return out, fmt.Errorf("%s not found in the encoding", key[:len(key)-3])
	}
	open := at + len(key) - 1 // the '}' of "{}"
	out = append(out, src[:open]...)
	first := true
	for k := range keys {
		if !first {
			out = append(out, ',')
		}
		first = false
		var err error
		if out, err = appendKey(out, k); err != nil {
			return out, err
		}
		out = append(out, ':')
		out = value(out, k)
	}
	return append(out, src[open:]...), nil
}

// sortedKeys yields a map's keys in order, as encoding/json writes them.
func sortedKeys[V any](m map[string]V) iter.Seq[string] {
	return slices.Values(slices.Sorted(maps.Keys(m)))
}

// appendKey appends a map key as encoding/json writes it: ids of plain characters as they are,
// others through encoding/json (its escapes of quotes, controls, HTML characters and invalid
// UTF-8).
func appendKey(out []byte, k string) ([]byte, error) {
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, err := json.Marshal(k)
			return append(out, b...), err
		}
	}
	out = append(out, '"')
	out = append(out, k...)
	return append(out, '"'), nil
}
