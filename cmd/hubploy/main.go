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

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the work failed, or a check found problems
	exitInput   = 2 // bad usage or bad input
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

// checkFailed is returned by commands that ran fine but found problems they already
// reported (validate); it exits 1 without printing more.
var checkFailed = errors.New("check failed")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, checkFailed):
		return exitFailure
	}
	fmt.Fprintln(stderr, "hubploy: error:", err)
	var u usageError
	if errors.As(err, &u) || inputerr.Is(err) {
		return exitInput
	}
	return exitFailure
}
