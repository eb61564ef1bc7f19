package rules

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sampleEnv() *Env {
	return &Env{
		RIF:           Metric{Average: 40, Gradient: 2, Predicted: 42, Threshold: 20, Required: 3, Fresh: true},
		MC:            Metric{Average: 55, Predicted: 56, Threshold: 70, Required: 1},
		LA:            Metric{Average: 30, Predicted: 31, Threshold: 70, Required: 1},
		Active:        2,
		Pending:       1,
		NonTerminated: 3,
		MinMembers:    1,
		MaxMembers:    10,
		Required:      3,
		ScaleUp:       true,
		Time:          Time{Unix: 1_700_000_000, Hour: 14, Minute: 30, Weekday: 3},
		ClusterID:     "php.cluster",
		TenantID:      "t1",
		Cartridge:     "php",
	}
}

func TestExprEval(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		kind   Kind
		want   any
		inputs []Binding
	}{
		{name: "comparison", src: "rif.predicted > rif.threshold && active < maxMembers", kind: Bool, want: true,
			inputs: []Binding{{"active", 2}, {"maxMembers", 10}, {"rif.predicted", 42.0}, {"rif.threshold", 20.0}}},
		{name: "string equality", src: `tenantId == "t2"`, kind: Bool, want: false, inputs: []Binding{{"tenantId", "t1"}}},
		{name: "int arithmetic", src: "required + 2", kind: Number, want: 5.0, inputs: []Binding{{"required", 3}}},
		{name: "float result", src: "rif.predicted / 4", kind: Number, want: 10.5, inputs: []Binding{{"rif.predicted", 42.0}}},
		{name: "builtin max", src: "max(required, minMembers * 2, 4)", kind: Number, want: 4.0,
			inputs: []Binding{{"minMembers", 1}, {"required", 3}}},
		{name: "ternary", src: "time.hour >= 9 && time.hour < 18 ? max(required, 2) : required", kind: Number, want: 3.0,
			inputs: []Binding{{"required", 3}, {"time.hour", 14}}},
		{name: "verdict override", src: "scaleDown && time.weekday != 0", kind: Bool, want: false,
			inputs: []Binding{{"scaleDown", false}, {"time.weekday", 3}}},
		{name: "constant", src: "true", kind: Bool, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := CompileExpr(tt.src, tt.kind)
			if err != nil {
				t.Fatal(err)
			}
			env := sampleEnv()
			r, err := p.Eval(env)
			if err != nil {
				t.Fatal(err)
			}
			tr := r.Trace(env)
			want := Trace{Expr: tt.src, Value: tt.want, Inputs: tt.inputs}
			if diff := cmp.Diff(want, tr); diff != "" {
				t.Errorf("trace (-want +got):\n%s", diff)
			}
			// The Evaluator path gives the same result.
			ev := NewEvaluator()
			*ev.Env() = *env
			r2, err := ev.Eval(p)
			if err != nil || r2.Bool != r.Bool || r2.Number != r.Number {
				t.Errorf("evaluator: %+v %v, want %+v", r2, err, r)
			}
		})
	}
}

func TestCompileExprErrors(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		kind      Kind
		line, col int
		contains  string
	}{
		{name: "string compared to number", src: `tenantId > 3`, kind: Bool, line: 1, col: 10, contains: "mismatched types"},
		{name: "unknown name", src: `rif.predicted > 1 && bogus`, kind: Bool, line: 1, col: 22, contains: "unknown name bogus"},
		{name: "syntax", src: "active >", kind: Bool, line: 1, col: 8},
		{name: "second line", src: "active > 1 &&\n  tenantId < 2", kind: Bool, line: 2, col: 12, contains: "mismatched"},
		{name: "bool wanted", src: `active + 1`, kind: Bool, line: 1, col: 1, contains: "bool"},
		{name: "number wanted", src: `active > 1`, kind: Number, line: 1, col: 1, contains: "expected a number"},
		{name: "now disabled", src: `now().Hour() > 3`, kind: Bool, line: 1, col: 1, contains: "now"},
		{name: "empty", src: "  ", kind: Bool, line: 1, col: 1, contains: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompileExpr(tt.src, tt.kind)
			var ee *ExprError
			if !errors.As(err, &ee) {
				t.Fatalf("err = %v, want *ExprError", err)
			}
			if ee.Line != tt.line || ee.Column != tt.col || !strings.Contains(ee.Msg, tt.contains) {
				t.Errorf("got %d:%d %q, want %d:%d containing %q", ee.Line, ee.Column, ee.Msg, tt.line, tt.col, tt.contains)
			}
		})
	}
}

func TestExprRuntimeError(t *testing.T) {
	p, err := CompileExpr("required / (active - 2) > 1", Bool) // float division: no panic
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(sampleEnv()); err != nil {
		t.Fatalf("float division by zero: %v", err)
	}
	p, err = CompileExpr("required % (active - 2) > 1", Bool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(sampleEnv()); !errors.Is(err, ErrEval) {
		t.Fatalf("integer modulo by zero: err = %v, want ErrEval", err)
	}
}

func TestExprAllocs(t *testing.T) {
	p, err := CompileExpr(`rif.predicted > rif.threshold && active < maxMembers && tenantId != "blocked" || mc.predicted > 90`, Bool)
	if err != nil {
		t.Fatal(err)
	}
	ev := NewEvaluator()
	*ev.Env() = *sampleEnv()
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := ev.Eval(p); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Evaluator.Eval allocs = %v, want 0", n)
	}
	env := sampleEnv()
	if n := testing.AllocsPerRun(1000, func() {
		if _, err := p.Eval(env); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Program.Eval allocs = %v, want 0", n)
	}
}

func TestEvaluatorConcurrent(t *testing.T) {
	p, err := CompileExpr("active * 2", Number)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	for g := range 4 {
		go func() {
			env := sampleEnv()
			ok := true
			for i := range 200 {
				env.Active = g*1000 + i
				r, err := p.Eval(env)
				ok = ok && err == nil && r.Number == float64(2*env.Active)
			}
			done <- ok
		}()
	}
	for range 4 {
		if !<-done {
			t.Error("wrong result under concurrency")
		}
	}
}

func TestEvaluatorSurvivesGC(t *testing.T) {
	p, err := CompileExpr(`tenantId + cartridge == "t1php" && active == 7`, Bool)
	if err != nil {
		t.Fatal(err)
	}
	ev := NewEvaluator()
	for i := range 50 {
		env := ev.Env()
		env.TenantID = string([]byte("t1")) // fresh heap strings, reachable only through env
		env.Cartridge = string([]byte("php"))
		env.Active = 7
		runtime.GC()
		r, err := ev.Eval(p)
		if err != nil || !r.Bool {
			t.Fatalf("round %d: %+v %v", i, r, err)
		}
	}
}

// TestEvaluatorSeesEnvChanges checks that Eval reads the Env as it is at the call, though it is
// boxed once and reused: the autoscaler changes required between rules, and the next rule must
// see the new value. A changed Env costs one allocation, an unchanged one none.
func TestEvaluatorSeesEnvChanges(t *testing.T) {
	p, err := CompileExpr(`required + active`, Number)
	if err != nil {
		t.Fatal(err)
	}
	ev := NewEvaluator()
	env := ev.Env()
	env.Active, env.Required = 2, 3
	for _, want := range []float64{5, 5} {
		if r, err := ev.Eval(p); err != nil || r.Number != want {
			t.Fatalf("Eval = %v, %v; want %v", r.Number, err, want)
		}
	}
	env.Required = 7
	if r, err := ev.Eval(p); err != nil || r.Number != 9 {
		t.Fatalf("after required = 7: Eval = %v, %v; want 9", r.Number, err)
	}
	i := 0
	if n := testing.AllocsPerRun(100, func() {
		i++
		env.Active = i
		if _, err := ev.Eval(p); err != nil {
			t.Fatal(err)
		}
	}); n != 1 {
		t.Errorf("Eval of a changed Env allocs = %v, want 1", n)
	}
}
