// Package hubcheck checks that a JupyterHub works, end to end, through its
// REST API as a deployer's health-check service: the hub answers, the API
// takes the token, a user's server starts, answers through the proxy and
// stops. It uses net/http only, so it runs wherever the hub can be reached:
// its public URL, or the Kubernetes API server's service proxy.
package hubcheck

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultUser is the user whose server the check starts, created for the
// check and deleted after it.
const DefaultUser = "hubploy-check"

// Step names, in the order a check runs them.
const (
	StepHealth = "health" // GET /hub/health
	StepAPI    = "api"    // GET /hub/api and /hub/api/user: the API takes the token
	StepUser   = "user"   // create the check user, or reuse it
	StepStart  = "start"  // start its server and wait until it is ready
	StepServer = "server" // its /api/status through the proxy
	StepStop   = "stop"   // stop the server and wait until it has stopped
	StepDelete = "delete" // delete the user
)

// Check is one health check of a hub. Set the fields, then call Run; the zero
// values of the optional ones are the defaults.
type Check struct {
	// URL is the hub's address, with its base_url: https://hub.example.org/,
	// or an API server's service proxy path to the hub's proxy-public Service.
	URL string
	// Token is the API token of a service allowed to manage users and their
	// servers and to reach the servers (in z2jh, a hub.services entry with
	// the admin role). It is sent to the hub only, and never reported.
	Token string
	// User is the check user's name; empty means DefaultUser.
	User string
	// Timeout bounds each request-sized step; zero means 30 s.
	Timeout time.Duration
	// StartTimeout bounds the start of the server, which waits for the
	// spawner (an image pull, a new node); zero means 5 minutes.
	StartTimeout time.Duration
	// StopTimeout bounds the stop of the server, and of a leftover one in
	// the user step. A spawn still pending cannot be stopped: the stop waits
	// for the hub to finish it or give up first. Zero means 5 minutes.
	StopTimeout time.Duration
	// Attempts is how many times the whole check runs before it fails; zero
	// means 3. A refused token or a wrong URL is not retried.
	Attempts int
	// AttemptTimeout bounds each attempt's steps up to the server's answer
	// (the cleanup runs after it); zero leaves only the steps' own bounds.
	AttemptTimeout time.Duration
	// Backoff is the wait before the second attempt, doubled for each next
	// one; zero means 5 s.
	Backoff time.Duration
	// Client sends the requests; nil means a new http.Client. Its own Timeout
	// should be zero: the steps bound their requests.
	Client *http.Client
	// Progress, when set, is called after each step with its name, how long
	// it took and its error (nil when it passed).
	Progress func(step string, d time.Duration, err error)
}

// Report is what a check did: every step of every attempt.
type Report struct {
	OK       bool   `json:"ok"`
	Version  string `json:"version,omitempty"` // the hub's, from /hub/api
	Attempts int    `json:"attempts"`
	Steps    []Step `json:"steps"`
}

// Step is one step of one attempt.
type Step struct {
	Attempt  int           `json:"attempt"`
	Name     string        `json:"name"`
	OK       bool          `json:"ok"`
	Duration time.Duration `json:"-"`
	Seconds  float64       `json:"duration_seconds"`
	Error    string        `json:"error,omitempty"`
}

// Run runs the check until an attempt passes or the attempts are used up.
// The report is returned in either case; the error is the last attempt's
// failed step, one line, or bad options.
func (c *Check) Run(ctx context.Context) (*Report, error) {
	r, err := c.resolve()
	if err != nil {
		return nil, err
	}
	report := &Report{}
	backoff := c.Backoff
	if backoff == 0 {
		backoff = 5 * time.Second
	}
	attempts := cmp(c.Attempts, 3)
	for n := 1; ; n++ {
		report.Attempts = n
		r.report, r.attempt = report, n
		err = r.runAttempt(ctx)
		if err == nil {
			report.OK = true
			return report, nil
		}
		var se *stepError
		if n == attempts || (errors.As(err, &se) && se.permanent) {
			return report, err
		}
		select {
		case <-ctx.Done():
			return report, err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

func cmp[T comparable](v, fallback T) T {
	var zero T
	if v == zero {
		return fallback
	}
	return v
}

// run is a check with its options resolved, for one attempt at a time.
type run struct {
	base           *url.URL
	token          string
	user           string
	timeout        time.Duration
	startTimeout   time.Duration
	stopTimeout    time.Duration
	attemptTimeout time.Duration
	client         *http.Client
	progress       func(string, time.Duration, error)

	report  *Report
	attempt int
}

func (c *Check) resolve() (*run, error) {
	if c.URL == "" {
		return nil, errors.New("hubcheck: no hub URL")
	}
	base, err := url.Parse(c.URL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("hubcheck: hub URL %q is not an http(s) URL", c.URL)
	}
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	if c.Token == "" {
		return nil, errors.New("hubcheck: no API token")
	}
	return &run{
		base:           base,
		token:          c.Token,
		user:           cmp(c.User, DefaultUser),
		timeout:        cmp(c.Timeout, 30*time.Second),
		startTimeout:   cmp(c.StartTimeout, 5*time.Minute),
		stopTimeout:    cmp(c.StopTimeout, 5*time.Minute),
		attemptTimeout: c.AttemptTimeout,
		client:         cmp(c.Client, &http.Client{}),
		progress:       c.Progress,
	}, nil
}

// runAttempt runs the steps once. Once the user exists, its server is
// stopped and the user deleted whatever failed, and even when ctx ends: a
// check must not leave a server running.
func (r *run) runAttempt(ctx context.Context) (err error) {
	if r.attemptTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, r.attemptTimeout, errAttemptTimeout)
		defer cancel()
	}
	if err := r.step(ctx, StepHealth, r.timeout, r.health); err != nil {
		return err
	}
	if err := r.step(ctx, StepAPI, r.timeout, r.api); err != nil {
		return err
	}
	if err := r.step(ctx, StepUser, r.stopTimeout, r.createUser); err != nil {
		return err
	}
	defer func() {
		// The first failure is the error; the cleanup's own are in the report.
		cleanup := context.WithoutCancel(ctx)
		stopErr := r.step(cleanup, StepStop, r.stopTimeout, r.stopServer)
		deleteErr := r.step(cleanup, StepDelete, r.timeout, r.deleteUser)
		if err == nil {
			err = stopErr
		}
		if err == nil {
			err = deleteErr
		}
	}()
	if err := r.step(ctx, StepStart, r.startTimeout, r.startServer); err != nil {
		return err
	}
	return r.step(ctx, StepServer, r.timeout, r.serverStatus)
}

// step runs one step within its timeout, records it and tells Progress. The
// error says which step and attempt, and never holds the token.
func (r *run) step(ctx context.Context, name string, timeout time.Duration, do func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	began := time.Now()
	err := do(ctx)
	switch {
	case err == nil:
	case errors.Is(context.Cause(ctx), errAttemptTimeout):
		err = fmt.Errorf("%w (the attempt's timeout is %s)", err, r.attemptTimeout)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		err = fmt.Errorf("%w (the step's timeout is %s)", err, timeout)
	}
	d := time.Since(began)
	s := Step{Attempt: r.attempt, Name: name, OK: err == nil, Duration: d, Seconds: d.Seconds()}
	if err != nil {
		var se *stepError
		permanent := errors.As(err, &se) && se.permanent
		err = &stepError{msg: r.redact(fmt.Sprintf("hubcheck: %s (attempt %d): %v", name, r.attempt, err)), permanent: permanent}
		s.Error = err.Error()
	}
	r.report.Steps = append(r.report.Steps, s)
	if r.progress != nil {
		r.progress(name, d, err)
	}
	return err
}

// redact removes the token from a message, which may quote what the hub
// answered: a hub or a proxy in front of it could echo the request's headers.
func (r *run) redact(s string) string {
	return strings.ReplaceAll(s, r.token, "[token]")
}

// errAttemptTimeout ends an attempt that took longer than AttemptTimeout.
var errAttemptTimeout = errors.New("the attempt's timeout")

// stepError is a step's failure; permanent ones (a refused token, a wrong
// URL) are not retried.
type stepError struct {
	msg       string
	permanent bool
}

func (e *stepError) Error() string { return e.msg }

// Summary is the report in a few words, for a table: "ok, 7.1s" or "start failed,
// 3 attempts, 95.0s".
func (r *Report) Summary() string {
	var total float64
	failed := ""
	for _, s := range r.Steps {
		total += s.Seconds
		if !s.OK && s.Attempt == r.Attempts && failed == "" {
			failed = s.Name
		}
	}
	attempts := ""
	if r.Attempts > 1 {
		attempts = fmt.Sprintf(", %d attempts", r.Attempts)
	}
	if r.OK {
		return fmt.Sprintf("ok%s, %.1fs", attempts, total)
	}
	if failed == "" {
		failed = "check"
	}
	return fmt.Sprintf("%s failed%s, %.1fs", failed, attempts, total)
}
