// Package inputerr is the error type for bad input: a file, a line, a key and what to do.
// The CLI maps it to exit code 2, everything else that fails to exit code 1.
package inputerr

import (
	"errors"
	"fmt"
	"strings"
)

// Error is a problem with what the user gave hubploy (a file, a flag, a name), as
// opposed to a failure of the work itself.
type Error struct {
	File string // path as the user would type it; empty when the input was a flag or argument
	Line int    // 1-based; 0 when unknown
	Key  string // dotted key path inside File, when there is one
	Msg  string // what is wrong
	Hint string // what to do about it
	Err  error  // underlying cause, kept for errors.Is/As
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "key %q: ", e.Key)
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether err is, or wraps, an input error.
func Is(err error) bool {
	var ie *Error
	return errors.As(err, &ie)
}
