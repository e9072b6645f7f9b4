package main

import (
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/hubploy/hubploy/pipeline/action"
	"github.com/hubploy/hubploy/pipeline/hubcheck"
)

// checkTokenEnv names the variable that gives the check service's API token, for CI
// systems that keep it in their secret store rather than in the repository.
const checkTokenEnv = "HUBPLOY_CHECK_TOKEN"

// checkFlags are the health check's options; prefix names them in deploy
// (--check-timeout), where they sit beside the deploy's own.
type checkFlags struct {
	opts                                  action.CheckOptions
	timeout, startTimeout, attemptTimeout timeoutFlag
}

func (cf *checkFlags) add(c *cobra.Command, prefix string) {
	f := c.Flags()
	cf.timeout, cf.startTimeout = timeoutFlag(30*time.Second), timeoutFlag(5*time.Minute)
	f.Var(&cf.timeout, prefix+"timeout", "how long each request of the check may take")
	f.Var(&cf.startTimeout, prefix+"start-timeout", "how long the check user's server may take to start (image pull, new node)")
	f.Var(&cf.attemptTimeout, prefix+"attempt-timeout", "how long one attempt may take, its cleanup aside (0: only its steps' bounds)")
	f.IntVar(&cf.opts.Attempts, prefix+"attempts", 3, "how many times the check runs before it fails (a refused token is not retried)")
	f.StringVar(&cf.opts.User, prefix+"user", "", "the user whose server the check starts and deletes (default: deploy.check.user, or "+hubcheck.DefaultUser+")")
}

// options are the flags' options, with the token from $HUBPLOY_CHECK_TOKEN if set.
func (cf *checkFlags) options() action.CheckOptions {
	o := cf.opts
	o.Timeout, o.StartTimeout, o.AttemptTimeout = time.Duration(cf.timeout), time.Duration(cf.startTimeout), time.Duration(cf.attemptTimeout)
	o.Token = os.Getenv(checkTokenEnv)
	return o
}

func newCheckCmd(g *globals) *cobra.Command {
	var (
		cl clusterFlags
		cf checkFlags
	)
	cmd := &cobra.Command{
		Use:   "check HUB ENV",
		Short: "Check that a deployed hub works: log in through its API, start a server, stop it",
		Long: `Check a deployed hub end to end through the JupyterHub REST API, as its health-check
service: /hub/health and /hub/api answer; the check user (` + hubcheck.DefaultUser + `) is created,
its server started and waited for, its /api/status answers through the proxy; then the
server is stopped and the user deleted, whatever failed. Each step is printed with its
duration; the whole check is retried (--attempts) with a growing pause.

The hub's address is --url, else hubploy.yaml's deploy.check.url ({hub} and {env} filled
in), else the host of the release's Ingress. The token is $` + checkTokenEnv + `, else the
apiToken of the hub service deploy.check.service (default ` + "hub-health" + `) in the hub's values
(its sops secrets), else the key hub.services.<service>.apiToken of the hub's Secret in
the cluster, where z2jh keeps the tokens it generates. The service needs the admin role.

Exit codes: 0 the hub works, 1 the check failed, 2 bad input (no address, no token).`,
		Example: `  hubploy check datahub staging
  hubploy check datahub prod --url https://datahub.example.org/ --output json
  HUBPLOY_CHECK_TOKEN=... hubploy check datahub staging --attempts 1`,
		Args:              exactArgs(2),
		ValidArgsFunction: hubEnvCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			c := &action.Check{Config: cfg, Hub: args[0], Env: args[1], Cluster: cl.options(), Options: cf.options(), Progress: g.progress(args[0] + "/" + args[1])}
			res, err := c.Run(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				err = g.printJSON(res)
			} else {
				err = action.WriteCheck(g.stdout, res)
			}
			if err != nil {
				return err
			}
			if !res.OK() {
				g.logf("error: %s", res.Error)
				return checkFailed
			}
			return nil
		},
	}
	cl.add(cmd)
	cf.add(cmd, "")
	cmd.Flags().StringVar(&cf.opts.URL, "url", "", "the hub's address, with its base URL (default: deploy.check.url, or the release's Ingress host)")
	return uses(cmd, renderFlags...)
}
