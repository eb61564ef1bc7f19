package rules

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Kind is the type an expr program must produce.
type Kind uint8

// The result kinds.
const (
	Bool   Kind = iota + 1 // a verdict: scaleUp, scaleDown
	Number                 // an int or float expression: required
)

func (k Kind) String() string {
	switch k {
	case Bool:
		return "bool"
	case Number:
		return "number"
	}
	return "unknown"
}

// ErrEval is wrapped by every evaluation error (a runtime error of a compiled program, for example a
// division by zero in integer arithmetic).
var ErrEval = errors.New("rules: evaluation")

// ExprError is a compile error of an expr program. Line and Column are 1-based and relative to the
// expression source, so a caller that knows where the expression sits in a file can turn them into
// a file position.
type ExprError struct {
	Line, Column int
	Msg          string
}

func (e *ExprError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Column, e.Msg) }

// Program is a compiled expr program. It is immutable and safe for concurrent use; evaluation
// needs an Evaluator (or Eval's pooled one).
type Program struct {
	src    string
	kind   Kind
	prog   *vm.Program
	inputs []string // the env names the program reads, sorted, for traces
}

// Source is the expression as written.
func (p *Program) Source() string { return p.src }

// Kind is the result kind the program was compiled for.
func (p *Program) Kind() Kind { return p.kind }

// Inputs are the environment names (such as "rif.predicted" or "active") the program reads.
func (p *Program) Inputs() []string { return p.inputs }

// CompileExpr compiles src against Env. The program must produce kind: Bool or Number (an int
// or a float). Names that Env lacks, type errors (comparing a string with a number) and a wrong
// result type are compile errors of type *ExprError. The builtin now() is disabled: rules read
// time from the environment so that replays and tests are exact.
func CompileExpr(src string, kind Kind) (*Program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, &ExprError{Line: 1, Column: 1, Msg: "empty expression"}
	}
	opts := []expr.Option{expr.Env(Env{}), expr.DisableBuiltin("now"), expr.Optimize(true)}
	if kind == Bool {
		opts = append(opts, expr.AsBool())
	}
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, exprError(err)
	}
	if kind == Number {
		// Checked by hand rather than with expr.AsFloat64, which adds a cast that boxes a float on
		// every run.
		switch t := prog.Node().Type(); {
		case t == nil:
			return nil, &ExprError{Line: 1, Column: 1, Msg: "expected a number, got an untyped value"}
		case t.Kind() == reflect.Int || t.Kind() == reflect.Float64:
		case t.Kind() == reflect.Interface:
			// unknown at compile time (e.g. a ternary mixing int and float): checked at run time
		default:
			return nil, &ExprError{Line: 1, Column: 1, Msg: fmt.Sprintf("expected a number, got %s", t)}
		}
	}
	return &Program{src: src, kind: kind, prog: prog, inputs: inputsOf(prog.Node())}, nil
}

func exprError(err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		line, col := fe.Line, fe.Column+1
		if line == 0 {
			line = 1
		}
		return &ExprError{Line: line, Column: col, Msg: fe.Message}
	}
	return &ExprError{Line: 1, Column: 1, Msg: err.Error()}
}

// inputsOf lists the environment paths a checked AST reads.
func inputsOf(n ast.Node) []string {
	v := &inputVisitor{seen: map[string]bool{}}
	ast.Walk(&n, v)
	out := make([]string, 0, len(v.seen))
	for name := range v.seen {
		if _, ok := envFields[name]; !ok {
			continue // a closure variable or predicate argument, not an env field
		}
		out = append(out, name)
	}
	sort.Strings(out)
	// Drop "rif" when "rif.predicted" is there: the narrower name explains more.
	kept := out[:0]
	for i, name := range out {
		if i+1 < len(out) && strings.HasPrefix(out[i+1], name+".") {
			continue
		}
		kept = append(kept, name)
	}
	return kept
}

type inputVisitor struct{ seen map[string]bool }

func (v *inputVisitor) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.IdentifierNode:
		v.seen[n.Value] = true
	case *ast.MemberNode:
		if id, ok := n.Node.(*ast.IdentifierNode); ok {
			if s, ok := n.Property.(*ast.StringNode); ok {
				v.seen[id.Value+"."+s.Value] = true
			}
		}
	}
}

// envFields maps every expr name of Env ("rif", "rif.predicted", "active") to its field index.
var envFields = func() map[string][]int {
	m := map[string][]int{}
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := prefix + f.Tag.Get("expr")
			idx := append(append([]int(nil), index...), i)
			m[name] = idx
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, name+".", idx)
			}
		}
	}
	walk(reflect.TypeFor[Env](), "", nil)
	return m
}()

// Result is the value of one evaluation. It holds no allocated memory; Trace builds the
// explanation when a caller needs one (when a decision is recorded), not on every evaluation.
type Result struct {
	Kind   Kind
	Bool   bool    // for Kind Bool
	Number float64 // for Kind Number
	prog   *Program
}

// Binding is one environment value a program read.
type Binding struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

// Trace explains an expr evaluation: the expression, its value and the inputs it read.
type Trace struct {
	Expr   string    `json:"expr"`
	Value  any       `json:"value"`
	Inputs []Binding `json:"inputs,omitempty"`
}

// Trace explains r, reading the inputs from env, which must be the environment r was evaluated
// against.
func (r Result) Trace(env *Env) Trace {
	t := Trace{}
	switch r.Kind {
	case Bool:
		t.Value = r.Bool
	case Number:
		t.Value = r.Number
	}
	if r.prog == nil {
		return t
	}
	t.Expr = r.prog.src
	ev := reflect.ValueOf(env).Elem()
	for _, name := range r.prog.inputs {
		t.Inputs = append(t.Inputs, Binding{Name: name, Value: ev.FieldByIndex(envFields[name]).Interface()})
	}
	return t
}

// Evaluator runs programs against its own Env. Fill Env() in place, then call Eval for each
// program of the cluster instance. An Evaluator is not safe for concurrent use; use one per
// goroutine.
//
// expr reads struct fields through reflect, and reading a field of a pointer's target copies it
// to the heap (the field is addressable), while a struct held by value in an interface is read in
// place. So Eval runs the programs against a boxed copy of the Env, boxed again only when the Env
// has changed since (a rule that moves required changes it): about one allocation of 384 bytes
// per instance per round, none per program. It used to point an interface at the Env through
// unsafe to save that allocation; on autoscaler's BenchmarkRound10k the boxing measured no loss
// beyond the noise (fresh round 231 ms unsafe, 235 ms boxed, p = 0.88; steady 60 ms and 53 ms,
// p = 0.44; 2 shared cores, 8 interleaved runs), for +1 allocation per decided instance.
type Evaluator struct {
	vm  vm.VM
	env Env
	box any // a copy of env as of the last Eval, or nil
}

// NewEvaluator returns an Evaluator with a zero Env.
func NewEvaluator() *Evaluator { return &Evaluator{} }

// Env is the environment the next Eval reads. Change it between evaluations only.
func (e *Evaluator) Env() *Env { return &e.env }

// Eval runs p against the Evaluator's Env.
func (e *Evaluator) Eval(p *Program) (Result, error) {
	if b, ok := e.box.(Env); !ok || b != e.env {
		e.box = e.env
	}
	out, err := e.vm.Run(p.prog, e.box)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %s: %w", ErrEval, p.src, err)
	}
	r := Result{Kind: p.kind, prog: p}
	switch v := out.(type) {
	case bool:
		if p.kind != Bool {
			return Result{}, fmt.Errorf("%w: %s: got a bool, want a number", ErrEval, p.src)
		}
		r.Bool = v
	case int:
		if p.kind != Number {
			return Result{}, fmt.Errorf("%w: %s: got a number, want a bool", ErrEval, p.src)
		}
		r.Number = float64(v)
	case float64:
		if p.kind != Number {
			return Result{}, fmt.Errorf("%w: %s: got a number, want a bool", ErrEval, p.src)
		}
		r.Number = v
	default:
		return Result{}, fmt.Errorf("%w: %s: got %T, want a %s", ErrEval, p.src, out, p.kind)
	}
	return r, nil
}

var evaluators = sync.Pool{New: func() any { return NewEvaluator() }}

// Eval runs p against a copy of env with a pooled Evaluator. It allocates the copy when env
// differs from the pooled Evaluator's last one; a caller that evaluates several programs per
// instance boxes the Env once by using an Evaluator directly.
func (p *Program) Eval(env *Env) (Result, error) {
	ev := evaluators.Get().(*Evaluator)
	ev.env = *env
	r, err := ev.Eval(p)
	evaluators.Put(ev) // keeps the last Env's strings until the pool is collected
	return r, err
}
