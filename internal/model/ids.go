package model

import (
	"crypto/rand"
	"strconv"
	"strings"
	"sync/atomic"
)

// Id formats (docs/stratos-wire.md §1.7).

// ClusterID is the id of an application's cluster: "<applicationId>.<alias>.<cartridgeType>.domain".
func ClusterID(applicationID, alias, cartridgeType string) string {
	return applicationID + "." + alias + "." + cartridgeType + ".domain"
}

// HostName is a cluster's host name: "<appId>.<alias>.<cartridgeHost>" for a single-tenant
// cartridge, "<appId>.<cartridgeHost>" for a multi-tenant one.
func HostName(applicationID, alias, cartridgeHost string, multiTenant bool) string {
	if multiTenant {
		return applicationID + "." + cartridgeHost
	}
	return applicationID + "." + alias + "." + cartridgeHost
}

// NewUUID returns a random (version 4) UUID in its 36-character text form.
func NewUUID() string {
	var u [16]byte
	rand.Read(u[:]) // never fails (crypto/rand crashes the program instead)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	b := make([]byte, 0, 36)
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hex[c>>4], hex[c&0x0f])
	}
	return string(b)
}

// NewMemberID returns a member id: the cluster id followed, with no separator, by a random UUID,
// as the Stratos cloud controller makes it.
func NewMemberID(clusterID string) string { return clusterID + NewUUID() }

// MemberClusterID returns the cluster id a member id was made from, when the id ends in a UUID.
func MemberClusterID(memberID string) (string, bool) {
	const n = 36
	if len(memberID) < n || !isUUID(memberID[len(memberID)-n:]) {
		return "", false
	}
	return memberID[:len(memberID)-n], true
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// InstanceID is the id of an application, group or cluster instance: "<alias>-<n>", where n counts
// from 1 within the parent.
func InstanceID(alias string, n int) string { return alias + "-" + strconv.Itoa(n) }

// ParseInstanceID splits an instance id into its alias and sequence number.
func ParseInstanceID(id string) (alias string, n int, ok bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(id[i+1:])
	if err != nil || n < 1 {
		return "", 0, false
	}
	return id[:i], n, true
}

// InstanceSequence hands out instance ids for one parent, like Stratos' ParentComponent
// instanceIdSequence. The zero value starts at 1; it is safe for concurrent use.
type InstanceSequence struct {
	n atomic.Int64
}

// Next returns the next instance id for the alias.
func (s *InstanceSequence) Next(alias string) string {
	return InstanceID(alias, int(s.n.Add(1)))
}

// Last is the last sequence number handed out (0 when none).
func (s *InstanceSequence) Last() int { return int(s.n.Load()) }

// Reset continues the sequence after n, e.g. after reloading state.
func (s *InstanceSequence) Reset(n int) { s.n.Store(int64(n)) }
