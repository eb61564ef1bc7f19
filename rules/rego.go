package rules

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// RegoError is a parse or compile error of a Rego module or query, at a position in the named
// module (the name given to CompileRego, normally the file path). Line and Column are 1-based.
type RegoError struct {
	File         string
	Line, Column int
	Msg          string
}

func (e *RegoError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// RegoQuery is a prepared Rego query over a fixed set of modules. It is immutable apart from its
// decision cache and safe for concurrent use.
type RegoQuery struct {
	query   string
	modules map[string]*ast.Module
	pq      rego.PreparedEvalQuery

	mu     sync.Mutex // guards cache
	cache  map[Proposal]RegoResult
	hits   atomic.Uint64
	misses atomic.Uint64
}

// cacheSize bounds the decision cache: when full it is cleared, like the scrape loop's swapped
// maps, rather than evicted entry by entry.
const cacheSize = 1 << 14

// CompileRego parses and compiles modules (name → source; the name is used in error positions)
// and prepares query against them. Every problem is returned, joined, as *RegoError values.
// Modules are Rego v1 (`if`, `contains` required).
func CompileRego(ctx context.Context, modules map[string]string, query string) (*RegoQuery, error) {
	names := make([]string, 0, len(modules))
	for name := range modules {
		names = append(names, name)
	}
	sort.Strings(names)
	parsed := make(map[string]*ast.Module, len(modules))
	var errs []error
	for _, name := range names {
		m, err := ast.ParseModuleWithOpts(name, modules[name], ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			errs = append(errs, regoErrors(name, err)...)
			continue
		}
		parsed[name] = m
	}
	body, err := ast.ParseBodyWithOpts(query, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		errs = append(errs, regoErrors("query", err)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c := ast.NewCompiler().WithDefaultRegoVersion(ast.RegoV1)
	if c.Compile(parsed); c.Failed() {
		return nil, errors.Join(regoErrors("", c.Errors)...)
	}
	pq, err := rego.New(rego.ParsedQuery(body), rego.Compiler(c), rego.StrictBuiltinErrors(true)).PrepareForEval(ctx)
	if err != nil {
		return nil, errors.Join(regoErrors("query", err)...)
	}
	return &RegoQuery{query: query, modules: parsed, pq: pq, cache: make(map[Proposal]RegoResult)}, nil
}

func regoErrors(name string, err error) []error {
	var list ast.Errors
	if !errors.As(err, &list) {
		var one *ast.Error
		if errors.As(err, &one) {
			list = ast.Errors{one}
		} else {
			return []error{&RegoError{File: name, Line: 1, Column: 1, Msg: err.Error()}}
		}
	}
	out := make([]error, 0, len(list))
	for _, e := range list {
		re := &RegoError{File: name, Line: 1, Column: 1, Msg: e.Message}
		if e.Location != nil {
			if e.Location.File != "" {
				re.File = e.Location.File
			}
			re.Line, re.Column = max(e.Location.Row, 1), max(e.Location.Col, 1)
		}
		out = append(out, re)
	}
	return out
}

// Query is the query as written.
func (q *RegoQuery) Query() string { return q.query }

// Modules are the parsed modules by name, for tooling (the OPA test runner); do not modify them.
func (q *RegoQuery) Modules() map[string]*ast.Module { return q.modules }

// RegoResult is the outcome of a Rego evaluation. Messages is the trace that explains it: the
// strings (deny messages) of the query's set or array value, sorted. Share it read-only: cached
// results are handed to every caller with the same input.
type RegoResult struct {
	Query    string   `json:"query"`
	Defined  bool     `json:"defined"` // the query had a value
	Value    any      `json:"-"`       // the value as OPA returns it ([]any for sets and arrays)
	Messages []string `json:"messages,omitempty"`
	Cached   bool     `json:"cached,omitempty"`
}

// Denied reports whether any message fired.
func (r RegoResult) Denied() bool { return len(r.Messages) > 0 }

// Eval evaluates the query with input (any JSON-shaped Go value, converted by OPA; a Proposal is
// converted by hand, which is faster). It is not cached.
func (q *RegoQuery) Eval(ctx context.Context, input any) (RegoResult, error) {
	var opt rego.EvalOption
	switch in := input.(type) {
	case Proposal:
		opt = rego.EvalParsedInput(in.value())
	case *Proposal:
		opt = rego.EvalParsedInput(in.value())
	default:
		opt = rego.EvalInput(input)
	}
	rs, err := q.pq.Eval(ctx, opt)
	if err != nil {
		return RegoResult{}, fmt.Errorf("%w: %s: %w", ErrEval, q.query, err)
	}
	r := RegoResult{Query: q.query}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return r, nil
	}
	r.Defined = true
	r.Value = rs[0].Expressions[0].Value
	switch v := r.Value.(type) {
	case []any:
		for _, m := range v {
			if s, ok := m.(string); ok {
				r.Messages = append(r.Messages, s)
			} else {
				r.Messages = append(r.Messages, fmt.Sprint(m))
			}
		}
		sort.Strings(r.Messages)
	case string:
		r.Messages = []string{v}
	}
	return r, nil
}

// Decide evaluates the query for a proposal, answering from the cache when the same proposal (at
// the same minute) was decided before. The autoscaler calls it only when it proposes an action,
// so an instance that holds steady costs no Rego evaluation at all.
func (q *RegoQuery) Decide(ctx context.Context, p Proposal) (RegoResult, error) {
	q.mu.Lock()
	r, ok := q.cache[p]
	q.mu.Unlock()
	if ok {
		q.hits.Add(1)
		r.Cached = true
		return r, nil
	}
	q.misses.Add(1)
	r, err := q.Eval(ctx, p)
	if err != nil {
		return r, err
	}
	q.mu.Lock()
	if len(q.cache) >= cacheSize {
		clear(q.cache)
	}
	q.cache[p] = r
	q.mu.Unlock()
	return r, nil
}

// CacheStats reports the decision cache's hits and misses since the query was compiled.
func (q *RegoQuery) CacheStats() (hits, misses uint64) { return q.hits.Load(), q.misses.Load() }

// Proposal is the input governance policies judge: a scaling action the autoscaler proposes for a
// cluster instance, with the counts already computed (Rego compares; Go does the arithmetic). It
// is comparable, so it is its own cache key; the time is cut to the minute for that reason.
//
// In Rego it is `input` with the JSON names below, e.g. input.tenant_id, input.delta,
// input.time.hour.
type Proposal struct {
	Action             string // "scale-up", "scale-down", "min", "max", "missing-metrics"
	Delta              int    // members to start (>0) or terminate (<0)
	Policy             string // the autoscaling policy id
	ClusterID          string
	ClusterInstanceID  string
	NetworkPartitionID string
	PartitionID        string // the partition the algorithm picked, if any
	ApplicationID      string
	TenantID           string
	Cartridge          string
	Active             int
	NonTerminated      int
	Required           int
	MinMembers         int
	MaxMembers         int
	ClusterMembers     int // non-terminated members of the whole cluster, every instance
	TenantMembers      int // non-terminated members of every cluster of the tenant
	Hour               int // 0-23 UTC
	Minute             int
	Weekday            int // 0 = Sunday
}

func (p *Proposal) value() ast.Value {
	s, n := ast.StringTerm, ast.InternedTerm[int]
	return ast.NewObject(
		ast.Item(keys.Action, s(p.Action)),
		ast.Item(keys.Delta, n(p.Delta)),
		ast.Item(keys.Policy, s(p.Policy)),
		ast.Item(keys.ClusterId, s(p.ClusterID)),
		ast.Item(keys.ClusterInstanceId, s(p.ClusterInstanceID)),
		ast.Item(keys.NetworkPartitionId, s(p.NetworkPartitionID)),
		ast.Item(keys.PartitionId, s(p.PartitionID)),
		ast.Item(keys.ApplicationId, s(p.ApplicationID)),
		ast.Item(keys.TenantId, s(p.TenantID)),
		ast.Item(keys.Cartridge, s(p.Cartridge)),
		ast.Item(keys.Active, n(p.Active)),
		ast.Item(keys.NonTerminated, n(p.NonTerminated)),
		ast.Item(keys.Required, n(p.Required)),
		ast.Item(keys.MinMembers, n(p.MinMembers)),
		ast.Item(keys.MaxMembers, n(p.MaxMembers)),
		ast.Item(keys.ClusterMembers, n(p.ClusterMembers)),
		ast.Item(keys.TenantMembers, n(p.TenantMembers)),
		ast.Item(keys.Time, ast.ObjectTerm(
			ast.Item(keys.Hour, n(p.Hour)),
			ast.Item(keys.Minute, n(p.Minute)),
			ast.Item(keys.Weekday, n(p.Weekday)),
		)),
	)
}

// keys holds the input's object keys, built once.
var keys = struct {
	Action, Delta, Policy, ClusterId, ClusterInstanceId, NetworkPartitionId, PartitionId, ApplicationId, TenantId, Cartridge, Active, NonTerminated, Required, MinMembers, MaxMembers, ClusterMembers, TenantMembers, Time, Hour, Minute, Weekday *ast.Term
}{
	Action:             ast.StringTerm("action"),
	Delta:              ast.StringTerm("delta"),
	Policy:             ast.StringTerm("policy"),
	ClusterId:          ast.StringTerm("cluster_id"),
	ClusterInstanceId:  ast.StringTerm("cluster_instance_id"),
	NetworkPartitionId: ast.StringTerm("network_partition_id"),
	PartitionId:        ast.StringTerm("partition_id"),
	ApplicationId:      ast.StringTerm("application_id"),
	TenantId:           ast.StringTerm("tenant_id"),
	Cartridge:          ast.StringTerm("cartridge"),
	Active:             ast.StringTerm("active"),
	NonTerminated:      ast.StringTerm("non_terminated"),
	Required:           ast.StringTerm("required"),
	MinMembers:         ast.StringTerm("min_members"),
	MaxMembers:         ast.StringTerm("max_members"),
	ClusterMembers:     ast.StringTerm("cluster_members"),
	TenantMembers:      ast.StringTerm("tenant_members"),
	Time:               ast.StringTerm("time"),
	Hour:               ast.StringTerm("hour"),
	Minute:             ast.StringTerm("minute"),
	Weekday:            ast.StringTerm("weekday"),
}

// String names the proposal briefly, for logs.
func (p Proposal) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %+d %s/%s", p.Action, p.Delta, p.ClusterID, p.ClusterInstanceID)
	return b.String()
}
