package manager

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
)

// RoleAgent is the role of the accounts cartridge agents and the platform's own publishers use
// for the broker and the Thrift receiver. It grants nothing on the REST API.
const RoleAgent = "agent"

// RoleBus is the role of accounts an operator grants full access to the message broker (a
// monitoring tool, a legacy component): only super-tenant admins create them, and like agent
// accounts they get nothing on the REST API. No other REST or tenant account may use the broker.
const RoleBus = "bus"

// IssueAgent creates, or renews with a new password, the account the agents of one cluster use
// (name "agent.<clusterID>" in the super tenant) and returns its credentials.
func (u *Users) IssueAgent(clusterID string) (user, password string, err error) {
	user = "agent." + strings.NewReplacer("@", "_", "/", "_", " ", "_").Replace(clusterID)
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("issue agent credentials: %w", err)
	}
	password = base64.RawURLEncoding.EncodeToString(b)
	if err := u.Put(user, SuperTenantDomain, RoleAgent, password); err != nil {
		return "", "", fmt.Errorf("issue agent credentials for %s: %w", clusterID, err)
	}
	return user, password, nil
}
