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
		ast.Item(key("action"), s(p.Action)),
		ast.Item(key("delta"), n(p.Delta)),
		ast.Item(key("policy"), s(p.Policy)),
		ast.Item(key("cluster_id"), s(p.ClusterID)),
		ast.Item(key("cluster_instance_id"), s(p.ClusterInstanceID)),
		ast.Item(key("network_partition_id"), s(p.NetworkPartitionID)),
		ast.Item(key("partition_id"), s(p.PartitionID)),
		ast.Item(key("application_id"), s(p.ApplicationID)),
		ast.Item(key("tenant_id"), s(p.TenantID)),
		ast.Item(key("cartridge"), s(p.Cartridge)),
		ast.Item(key("active"), n(p.Active)),
		ast.Item(key("non_terminated"), n(p.NonTerminated)),
		ast.Item(key("required"), n(p.Required)),
		ast.Item(key("min_members"), n(p.MinMembers)),
		ast.Item(key("max_members"), n(p.MaxMembers)),
		ast.Item(key("cluster_members"), n(p.ClusterMembers)),
		ast.Item(key("tenant_members"), n(p.TenantMembers)),
		ast.Item(key("time"), ast.ObjectTerm(
			ast.Item(key("hour"), n(p.Hour)),
			ast.Item(key("minute"), n(p.Minute)),
			ast.Item(key("weekday"), n(p.Weekday)),
		)),
	)
}

// keys holds the input's object keys, built once.
var keys = map[string]*ast.Term{}

func key(name string) *ast.Term {
	if t, ok := keys[name]; ok {
		return t
	}
	panic("rules: unknown proposal key " + name)
}

func init() {
	for _, k := range []string{"action", "delta", "policy", "cluster_id", "cluster_instance_id",
		"network_partition_id", "partition_id", "application_id", "tenant_id", "cartridge", "active",
		"non_terminated", "required", "min_members", "max_members", "cluster_members", "tenant_members",
		"time", "hour", "minute", "weekday"} {
		keys[k] = ast.StringTerm(k)
	}
}

// String names the proposal briefly, for logs.
func (p Proposal) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %+d %s/%s", p.Action, p.Delta, p.ClusterID, p.ClusterInstanceID)
	return b.String()
}
