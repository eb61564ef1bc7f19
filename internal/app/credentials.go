package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/strata-paas/strata/controller"
	"github.com/strata-paas/strata/internal/bus"
	"github.com/strata-paas/strata/internal/databridge"
	"github.com/strata-paas/strata/internal/model"
	"github.com/strata-paas/strata/manager"
)

// InternalUser is the user name of the platform's own broker and data-bridge credential.
const InternalUser = "strata.internal"

// memberUserPrefix starts the user name of a member's credential: "member.<member id>".
const memberUserPrefix = "member."

// busKeyFile is the file in the data dir that holds the key the internal and member credentials
// are derived from.
const busKeyFile = "bus.key"

// credentials are the platform's internal credential and the members' credentials. Both are
// derived from one random key kept in <data-dir>/bus.key (mode 0600): the internal password
// and each member's password are HMACs of the key, so nothing per member is stored, the
// credentials of adopted members survive a restart, and a member's credential stops working
// when the controller no longer has the member.
type credentials struct {
	key []byte
	// member reports the cluster of a member the controller has; nil until the controller exists
	// (member credentials are refused until then).
	member atomic.Pointer[func(memberID string) (clusterID string, ok bool)]
	users  *manager.Users
}

// loadCredentials reads <dataDir>/bus.key, creating it on first start.
func loadCredentials(dataDir string, users *manager.Users) (*credentials, error) {
	path := filepath.Join(dataDir, busKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("generate %s: %w", path, err)
		}
		b = []byte(base64.RawURLEncoding.EncodeToString(key) + "\n")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	key, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 32 {
		return nil, fmt.Errorf("%s: not a base64 key of 32 bytes or more", path)
	}
	return &credentials{key: key, users: users}, nil
}

func (c *credentials) derive(purpose string) string {
	mac := hmac.New(sha256.New, c.key)
	mac.Write([]byte(purpose))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// InternalPassword is the password of InternalUser.
func (c *credentials) internalPassword() string { return c.derive("internal") }

// memberPassword is the password of a member's credential.
func (c *credentials) memberPassword(memberID string) string {
	return c.derive("member\x00" + memberID)
}

// forMember is controller.Options.MemberCredentials: the member's own broker and CEP
// credential.
func (c *credentials) forMember(memberID, _ string) controller.Credentials {
	user, password := memberUserPrefix+memberID, c.memberPassword(memberID)
	return controller.Credentials{MBUsername: user, MBPassword: password, CEPUsername: user, CEPPassword: password}
}

// setMembers makes member credentials work: lookup finds a member's cluster in the controller.
func (c *credentials) setMembers(lookup func(memberID string) (string, bool)) {
	c.member.Store(&lookup)
}

// memberID checks a member credential's password and returns its member, which may no longer
// exist.
func (c *credentials) memberID(user, password string) (string, bool) {
	memberID, found := strings.CutPrefix(user, memberUserPrefix)
	if !found || subtle.ConstantTimeCompare([]byte(password), []byte(c.memberPassword(memberID))) != 1 {
		return "", false
	}
	return memberID, true
}

// memberOf checks a member credential and returns the member's cluster.
func (c *credentials) memberOf(user, password string) (memberID, clusterID string, ok bool) {
	memberID, ok = c.memberID(user, password)
	if !ok {
		return "", "", false
	}
	lookup := c.member.Load()
	if lookup == nil {
		return "", "", false
	}
	clusterID, ok = (*lookup)(memberID)
	return memberID, clusterID, ok
}

func (c *credentials) isInternal(user, password string) bool {
	okU := subtle.ConstantTimeCompare([]byte(user), []byte(InternalUser))
	okP := subtle.ConstantTimeCompare([]byte(password), []byte(c.internalPassword()))
	return okU&okP == 1
}

// identify is the embedded broker's Identify: the internal credential and accounts with the
// manager's bus role may do everything, a member credential what its member may (bus.Decide),
// a per-cluster agent account of an older data dir what its cluster's agents may. Every other
// account (REST users, tenant accounts) is refused: the operator grants bus access by giving an
// account the bus role.
func (c *credentials) identify(source, user, password string) (bus.Identity, bool) {
	if c.isInternal(user, password) {
		return bus.Identity{Role: bus.RoleInternal, Name: user}, true
	}
	if strings.HasPrefix(user, memberUserPrefix) {
		memberID, clusterID, ok := c.memberOf(user, password)
		return bus.Identity{Role: bus.RoleMember, Name: user, MemberID: memberID, ClusterID: clusterID}, ok
	}
	u, err := c.users.Login(source, user, password)
	if err != nil {
		return bus.Identity{}, false
	}
	switch {
	case u.Role == manager.RoleBus && u.TenantDomain == manager.SuperTenantDomain:
		return bus.Identity{Role: bus.RoleInternal, Name: user}, true
	case u.Role == manager.RoleAgent && u.TenantDomain == manager.SuperTenantDomain:
		if clusterID, ok := strings.CutPrefix(u.Name, "agent."); ok {
			return bus.Identity{Role: bus.RoleCluster, Name: user, ClusterID: clusterID}, true
		}
	}
	return bus.Identity{}, false
}

// alive is the broker's Alive: a member credential works while the controller has the member.
func (c *credentials) alive(id bus.Identity) bool {
	if id.Role != bus.RoleMember {
		return true
	}
	lookup := c.member.Load()
	if lookup == nil {
		return false
	}
	clusterID, ok := (*lookup)(id.MemberID)
	return ok && clusterID == id.ClusterID
}

// authorize is the data bridge's Authorize: the internal credential and the super tenant's
// admins publish anything, a member credential its member's events, a per-cluster agent account
// its cluster's; tenant users and every other account are refused.
func (c *credentials) authorize(ctx context.Context, user, password string) (databridge.Scope, error) {
	if c.isInternal(user, password) {
		return databridge.Scope{All: true}, nil
	}
	if strings.HasPrefix(user, memberUserPrefix) {
		if memberID, clusterID, ok := c.memberOf(user, password); ok {
			return databridge.Scope{ClusterID: clusterID, MemberID: memberID}, nil
		}
		return databridge.Scope{}, databridge.ErrAuthentication
	}
	u, err := c.users.Login(databridge.Source(ctx), user, password)
	switch {
	case err != nil:
		return databridge.Scope{}, fmt.Errorf("%w: %w", databridge.ErrAuthentication, err)
	case u.TenantDomain != manager.SuperTenantDomain:
	case u.Role == manager.RoleAdmin:
		return databridge.Scope{All: true}, nil
	case u.Role == manager.RoleAgent:
		if clusterID, ok := strings.CutPrefix(u.Name, "agent."); ok {
			return databridge.Scope{ClusterID: clusterID}, nil
		}
	}
	return databridge.Scope{}, databridge.ErrAuthentication
}

// revokeOnTermination ends a member's broker connections (embedded broker only; nil: none) and
// data-bridge sessions once the controller publishes its MemberTerminatedEvent: its credential
// stops working at once, its subscriptions with it.
func revokeOnTermination(ctx context.Context, client *bus.Consumer, broker *bus.Broker, thrift *databridge.Server) error {
	return client.SubscribeEvents(ctx, "topology/MemberTerminatedEvent", func(_ string, e model.Event) {
		ev, ok := e.(*model.MemberTerminatedEvent)
		if !ok {
			return
		}
		if broker != nil {
			broker.Disconnect(func(id bus.Identity) bool { return id.Role == bus.RoleMember && id.MemberID == ev.MemberID })
		}
		thrift.EndSessions(func(s databridge.Scope) bool { return !s.All && s.MemberID == ev.MemberID })
	})
}
