package manager

import (
	"context"
	_ "embed"
	"fmt"
	"os"

	"github.com/open-policy-agent/opa/v1/rego"
)

//go:embed default.rego
var defaultPolicy string

// authzQuery is the rule the authorisation policy must define.
const authzQuery = "data.strata.authz.allow"

type authzUser struct {
	Name        string `json:"name"`
	Tenant      string `json:"tenant"`
	Role        string `json:"role"`
	SuperTenant bool   `json:"super_tenant"`
}

type authzInput struct {
	User     authzUser `json:"user"`
	Resource string    `json:"resource"`
	Action   string    `json:"action"`
	Method   string    `json:"method"`
	Path     string    `json:"path"`
}

// authorizer evaluates the authorisation policy, compiled once. Its query is safe for
// concurrent use.
type authorizer struct{ query rego.PreparedEvalQuery }

// newAuthorizer compiles the policy at path, or the embedded default when path is empty.
func newAuthorizer(ctx context.Context, path string) (*authorizer, error) {
	module, name := defaultPolicy, "default.rego"
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("manager: authorisation policy: %w", err)
		}
		module, name = string(b), path
	}
	q, err := rego.New(rego.Query(authzQuery), rego.Module(name, module)).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("manager: authorisation policy %s: %w", name, err)
	}
	return &authorizer{query: q}, nil
}

// allow reports whether the policy allows the request; an undefined result denies.
func (a *authorizer) allow(ctx context.Context, in authzInput) (bool, error) {
	rs, err := a.query.Eval(ctx, rego.EvalInput(in))
	if err != nil {
		return false, fmt.Errorf("evaluate %s: %w", authzQuery, err)
	}
	return rs.Allowed(), nil
}
