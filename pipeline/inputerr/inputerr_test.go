package inputerr

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		err  *Error
		want string
	}{
		{&Error{File: "a.yaml", Line: 3, Key: "images.nme", Msg: "unknown key", Hint: `did you mean "name"?`},
			`a.yaml:3: key "images.nme": unknown key (did you mean "name"?)`},
		{&Error{File: "a.yaml", Msg: "not found"}, "a.yaml: not found"},
		{&Error{Msg: "hub \"x\" not found"}, `hub "x" not found`},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

func TestIsUnwraps(t *testing.T) {
	err := fmt.Errorf("context: %w", &Error{Msg: "bad", Err: fs.ErrNotExist})
	if !Is(err) {
		t.Fatal("Is did not find the wrapped input error")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("the cause is not reachable through Unwrap")
	}
	if Is(errors.New("plain")) {
		t.Fatal("a plain error is not an input error")
	}
}
