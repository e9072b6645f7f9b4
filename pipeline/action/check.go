package action

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/hubcheck"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/release"
)

// CheckOptions say how the health check reaches a hub and how patient it is, over what
// hubploy.yaml's deploy.check says. Zero values are the defaults.
type CheckOptions struct {
	// URL is the hub's address; empty: deploy.check.url, else the release's Ingress.
	URL string
	// Token is the API token of the hub's check service; empty: the service's apiToken
	// in the release's values (sops secrets), else in the hub's Kubernetes Secret.
	Token string
	// User is the check user; empty: deploy.check.user, else hubcheck.DefaultUser.
	User string
	// Timeout bounds each request; StartTimeout the start of the check user's server.
	Timeout, StartTimeout time.Duration
	// Attempts is how many times the check runs before it fails; zero means 3.
	Attempts int
	// AttemptTimeout bounds each attempt (its cleanup aside); zero: its steps' bounds.
	AttemptTimeout time.Duration
	// Backoff is the wait before the second attempt, doubled for each next one.
	Backoff time.Duration
	// Client sends the requests (nil: a new one).
	Client *http.Client
}

// Check checks that a deployed hub works, through its REST API: it answers, takes the
// token, starts a user's server that answers, and stops it (see hubcheck).
type Check struct {
	*Config
	Hub, Env string
	Cluster  ClusterOptions
	Options  CheckOptions
	// Progress receives a line per step.
	Progress func(format string, args ...any)
}

// CheckResult is a check of one hub: where it went, and each step.
type CheckResult struct {
	Hub    string           `json:"hub"`
	Env    string           `json:"env"`
	URL    string           `json:"url"`
	Token  string           `json:"token_from"` // where the token came from, never the token
	Report *hubcheck.Report `json:"report"`
	Error  string           `json:"error,omitempty"`
}

// OK reports whether the hub passed.
func (r *CheckResult) OK() bool { return r.Report != nil && r.Report.OK }

// Run prepares the hub's release (for its values and Ingress), reaches its cluster
// only if the token must be read from there, and runs the check. Finding the hub or
// its token is bad input, returned as the error; a hub that fails its check is in the
// result.
func (c *Check) Run(ctx context.Context) (*CheckResult, error) {
	rel, err := c.prepare(ctx, c.Hub, c.Env, c.Cluster.Namespace)
	if err != nil {
		return nil, err
	}
	access := func() (*cluster.Access, error) { return c.access(rel.Hub, rel.Namespace, c.Cluster, rel.Masker) }
	target, err := c.checkTarget(ctx, rel, c.Options)
	if err != nil {
		return nil, err
	}
	return c.runCheck(ctx, rel, target, access, c.Options, c.Progress)
}

// checkTarget is where and as whom a check reaches a hub. An empty token is read from
// the cluster when the check runs: z2jh writes the tokens it generates into a Secret
// at the hub's first deploy.
type checkTarget struct {
	url, user        string
	token, tokenFrom string
}

// checkTarget finds rel's hub address, user and, unless only the cluster has it, token;
// without touching the cluster, so that a deploy can fail on it before deploying.
func (c *Config) checkTarget(ctx context.Context, rel *release.Release, opts CheckOptions) (*checkTarget, error) {
	h := rel.Hub
	t := &checkTarget{url: opts.URL, user: opts.User, token: opts.Token, tokenFrom: "the given token"}
	if t.user == "" {
		t.user = h.Config.CheckUser()
	}
	if t.user == "" {
		t.user = hubcheck.DefaultUser
	}
	if t.url == "" {
		t.url = h.Config.CheckURL(h.Name, rel.Env)
	}
	if t.url == "" {
		manifest, err := rel.Render(ctx)
		if err != nil {
			return nil, err
		}
		var ok bool
		if t.url, ok = hubcheck.IngressURL(manifest); !ok {
			return nil, &inputerr.Error{File: h.Config.File, Key: "deploy.check.url",
				Msg:  fmt.Sprintf("no address for the health check of hub %s in %s: the release has no Ingress with a host", h.Name, rel.Env),
				Hint: "set deploy.check.url (with {hub} and {env}), or pass the hub's URL"}
		}
	}
	if t.token == "" {
		service := h.Config.CheckService()
		if token, ok := hubcheck.ValuesToken(rel.Values.Values, service); ok {
			t.token, t.tokenFrom = token, "the values ("+hubcheck.TokenKey(service)+")"
		}
	}
	return t, nil
}

// runCheck runs the health check of rel's hub at t, with a progress line per step; the
// token, if t has none, is read from the hub's Secret through access.
func (c *Config) runCheck(ctx context.Context, rel *release.Release, t *checkTarget, access func() (*cluster.Access, error), opts CheckOptions, progress func(string, ...any)) (*CheckResult, error) {
	if t.token == "" {
		if err := secretToken(ctx, rel, access, t); err != nil {
			return nil, err
		}
	}
	if !httpguts.ValidHeaderFieldValue(t.token) {
		return nil, &inputerr.Error{Key: "token", Msg: "the health check's API token, from " + t.tokenFrom + ", has a character an HTTP header cannot carry (a line break, say)",
			Hint: "give the token as JupyterHub made it, on one line"}
	}
	res := &CheckResult{Hub: rel.Hub.Name, Env: rel.Env, URL: t.url, Token: t.tokenFrom}
	masker := rel.Masker.With([]string{t.token})
	if progress == nil {
		progress = func(string, ...any) {}
	}
	hc := &hubcheck.Check{
		URL: t.url, Token: t.token, User: t.user,
		Timeout: opts.Timeout, StartTimeout: opts.StartTimeout, Attempts: opts.Attempts, AttemptTimeout: opts.AttemptTimeout, Backoff: opts.Backoff, Client: opts.Client,
		Progress: func(step string, d time.Duration, err error) {
			if err != nil {
				progress("check: %s failed (%.1fs): %s", step, d.Seconds(), masker.String(err.Error()))
				return
			}
			progress("check: %s ok (%.1fs)", step, d.Seconds())
		},
	}
	progress("check: %s as user %s, token from %s", t.url, t.user, t.tokenFrom)
	report, err := hc.Run(ctx)
	if report == nil { // the options were refused: bad input
		return nil, &inputerr.Error{Key: "url", Msg: masker.String(err.Error()), Hint: "give the hub's address as http(s)://host/base-url/"}
	}
	// The hub's answers, quoted in errors, could echo any value it was given.
	for i, s := range report.Steps {
		report.Steps[i].Error = masker.String(s.Error)
	}
	res.Report = report
	if err != nil {
		res.Error = masker.String(err.Error())
	}
	return res, nil
}

// secretToken reads the check service's token from the Secret where z2jh keeps the
// tokens it generates.
func secretToken(ctx context.Context, rel *release.Release, access func() (*cluster.Access, error), t *checkTarget) error {
	h := rel.Hub
	service := h.Config.CheckService()
	key := hubcheck.TokenKey(service)
	manifest, err := rel.Render(ctx)
	if err != nil {
		return err
	}
	a, err := access()
	if err != nil {
		return err
	}
	secret := hubcheck.TokenSecret(manifest, service)
	value, found, err := a.SecretValue(ctx, rel.Namespace, secret, key)
	if err != nil {
		return err
	}
	if !found || len(value) == 0 {
		return &inputerr.Error{File: h.Config.File, Key: "deploy.check.service",
			Msg: fmt.Sprintf("no API token for the health check of hub %s in %s: service %s has no apiToken in the values, nor key %s in Secret %s/%s",
				h.Name, rel.Env, service, key, rel.Namespace, secret),
			Hint: "add hub.services." + service + " (admin: true, apiToken) to the hub's secrets and deploy; or pass the token"}
	}
	t.token, t.tokenFrom = string(value), "Secret "+rel.Namespace+"/"+secret
	return nil
}
