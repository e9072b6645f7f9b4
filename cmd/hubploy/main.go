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
	"time"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// Exit codes, as the README's table of commands gives them.
const (
	exitOK      = 0
	exitFailure = 1 // the work failed, or a check found problems
	exitInput   = 2 // bad usage or bad input; for `diff --exit-code`: changes found
)

func main() {
	os.Exit(runStoppable(os.Args[1:], os.Stdout, os.Stderr))
}

// stopGrace is how long hubploy lets a command return after Ctrl-C or SIGTERM: a
// deploy stops waiting at once, and needs a moment to have helm mark the revision
// failed and to give up its lock. Work that does not look at the context (rendering
// a chart, reading a large file) is abandoned when the grace is over.
const stopGrace = 5 * time.Second

// runStoppable runs hubploy, cancelling the command's context on the first Ctrl-C or
// SIGTERM. A command that returns within stopGrace exits as it says (a deploy: 1, and
// its error says it was stopped); one that does not, or a second signal, ends hubploy
// with 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM), as shells report
// a process a signal ended.
func runStoppable(args []string, stdout, stderr io.Writer) int {
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, os.Interrupt, syscall.SIGTERM)
	// The cause is what signal.NotifyContext gives: "interrupt signal received".
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, stdout, stderr) }()
	var sig os.Signal
	select {
	case code := <-done:
		return code
	case sig = <-signals:
	}
	cause := fmt.Errorf("%v signal received", sig)
	cancel(cause)
	// A failed write to stderr has nowhere to be reported; the exit code still tells.
	fmt.Fprintf(stderr, "hubploy: %v: stopping (once more to stop at once)\n", cause)
	code := 128 + int(sig.(syscall.Signal))
	select {
	case c := <-done:
		return c
	case <-time.After(stopGrace):
		fmt.Fprintf(stderr, "hubploy: error: %v: stopped; the command did not finish within %s\n", cause, stopGrace)
	case again := <-signals:
		fmt.Fprintf(stderr, "hubploy: error: %v signal received again: stopped at once\n", again)
		code = 128 + int(again.(syscall.Signal))
	}
	return code
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
