// Command hubploy deploys JupyterHubs from a deployment repository: see `hubploy --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// Exit codes, as the README's table of commands gives them.
const (
	exitOK      = 0
	exitFailure = 1 // the work failed, or a check found problems
	exitInput   = 2 // bad usage or bad input; for `diff --exit-code`: changes found
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError marks errors in how hubploy was called.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

// exitError ends hubploy with code, after printing err unless it is nil (the command
// already reported what it found).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e exitError) Unwrap() error { return e.err }

// checkFailed is returned by commands that ran but found problems they reported.
var checkFailed = exitError{code: exitFailure}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	// Errors go to stderr; if that write fails there is nowhere left to say so, and the
	// exit code still tells.
	var exit exitError
	if errors.As(err, &exit) {
		if exit.err != nil {
			fmt.Fprintln(stderr, "hubploy: error:", exit.err)
		}
		return exit.code
	}
	fmt.Fprintln(stderr, "hubploy: error:", err)
	var u usageError
	if errors.As(err, &u) || inputerr.Is(err) {
		return exitInput
	}
	return exitFailure
}
