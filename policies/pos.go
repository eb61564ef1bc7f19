package policies

import (
	"errors"
	"fmt"
	"io"
)

// Pos is a position in a policy file. Line and Col are 1-based; a zero Line means the position is
// unknown (a policy built in code).
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

func (p Pos) String() string {
	switch {
	case p.Line == 0 && p.File == "":
		return "-"
	case p.Line == 0:
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one problem found in a policy file, at a position. Validation returns every Error it
// finds, joined with errors.Join; errors.As finds the first, and Errors lists them all.
type Error struct {
	Pos Pos
	Err error
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Sentinels, matched with errors.Is.
var (
	ErrInvalid   = errors.New("policies: invalid policy")
	ErrNotFound  = errors.New("policies: not found")
	ErrInUse     = errors.New("policies: in use")
	ErrDuplicate = errors.New("policies: duplicate id")
	// ErrRefused: a reload's Check refused the directory's set (it would orphan a running
	// application); the running set stays.
	ErrRefused = errors.New("policies: reload refused")
)

// Errors flattens an error returned by this package into its positioned problems, in order.
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		var pe *Error
		if e, ok := err.(*Error); ok {
			out = append(out, e)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		if errors.As(err, &pe) {
			out = append(out, pe)
		}
	}
	walk(err)
	return out
}

// problems collects positioned errors.
type problems struct {
	errs []error
	at   map[Pos]bool
}

func (p *problems) add(pos Pos, format string, args ...any) {
	p.addIs(pos, ErrInvalid, format, args...)
}

func (p *problems) addIs(pos Pos, sentinel error, format string, args ...any) {
	// One problem per position: a value that failed to decode is not also reported as out of
	// range by the validation that reads its zero value.
	if pos.Line > 0 {
		if p.at == nil {
			p.at = map[Pos]bool{}
		}
		if p.at[pos] {
			return
		}
		p.at[pos] = true
	}
	p.errs = append(p.errs, &Error{Pos: pos, Err: &problem{msg: fmt.Sprintf(format, args...), is: sentinel}})
}

// problem is a message that matches a sentinel without repeating its text.
type problem struct {
	msg string
	is  error
}

func (e *problem) Error() string        { return e.msg }
func (e *problem) Is(target error) bool { return target == e.is }

func (p *problems) err() error { return errors.Join(p.errs...) }

// WriteErrors writes every problem of err on its own line: the positioned problems (Errors),
// else every error joined in err, else err.
func WriteErrors(w io.Writer, err error) {
	if ps := Errors(err); len(ps) > 0 {
		for _, p := range ps {
			fmt.Fprintln(w, p)
		}
		return
	}
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		for _, e := range joined.Unwrap() {
			fmt.Fprintln(w, e)
		}
		return
	}
	fmt.Fprintln(w, err)
}
