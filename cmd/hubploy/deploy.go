package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/hubploy/hubploy/pipeline/action"
	"github.com/hubploy/hubploy/pipeline/deploy"
	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// clusterFlags choose and override how hubs reach their cluster.
type clusterFlags action.ClusterOptions

func (cf *clusterFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&cf.KubeconfigFile, "kubeconfig", "", "use this kubeconfig (may be sops-encrypted) instead of the one hubploy.yaml names; hubploy.yaml's context template still applies")
	c.Flags().StringVar(&cf.Context, "kube-context", "", "kubeconfig context to use (overrides cluster.kubeconfig.context)")
	c.Flags().StringVarP(&cf.Namespace, "namespace", "n", "", "the release's namespace (default: hubploy.yaml's deploy.namespace, or <hub>-<env>)")
}

func (cf *clusterFlags) options() action.ClusterOptions { return action.ClusterOptions(*cf) }

// timeoutFlag is a duration that also takes a bare number of seconds, as hubploy 0.3's
// --timeout did (and helm 2's).
type timeoutFlag time.Duration

func (t *timeoutFlag) String() string { return time.Duration(*t).String() }
func (t *timeoutFlag) Type() string   { return "duration" }
func (t *timeoutFlag) Set(s string) error {
	d, err := deploy.ParseTimeout(s)
	if ie := (*inputerr.Error)(nil); errors.As(err, &ie) {
		return fmt.Errorf("%s (%s)", ie.Msg, ie.Hint) // pflag's message names the flag
	}
	*t = timeoutFlag(d)
	return err
}

func newDeployCmd(g *globals) *cobra.Command {
	var (
		cf        clusterFlags
		checks    checkFlags
		d         action.Deploy
		printCmds bool
	)
	cmd := &cobra.Command{
		Use:   "deploy HUB ENV | deploy --env ENV (HUB... | --all | --plan FILE)",
		Short: "helm upgrade --install one hub, or many in parallel, and wait until ready",
		Long: `Deploy hubs with the helm SDK in process: layered values with secrets decrypted in
memory, the chart's dependencies from the cache, then an upgrade (or install) of the
release <hub>-<env> in namespace <hub>-<env>, created if absent. hubploy waits until every
resource of the release is ready (kstatus), printing each change; Ctrl-C stops cleanly.

Before touching the cluster, hubploy asks the registries whether they have every image
tag the release sets (hubploy.yaml's images, image-pins.yaml): a missing tag fails the
deploy with the command that builds it (a dry run only warns). --skip-image-check skips
this, for registries hubploy cannot reach.

A release whose rendered manifests and values equal the deployed revision's is left alone
("unchanged"; --force deploys anyway). A release left pending by a run that was killed is
reported; --recover rolls it back to its last good revision and goes on. A second hubploy
deploying the same release at the same time fails at once.

Many hubs deploy in parallel, at most --concurrency per cluster; one hub's failure, in
its preparation or its deploy, does not stop the others: each gets its row in the
summary, and the exit code is 1 if any failed. --plan FILE deploys the hubs a plan
(hubploy plan -o json) lists for the environment, and nothing when it lists none.

With --check, each hub deployed (or unchanged) is then checked as "hubploy check" does:
log in through its API as the check service, start a server, stop it. A hub that fails
its check fails the deploy; with --rollback-on-failure it is also rolled back to the
revision that was live before, and its row says both. --canary HUB[,HUB] (or
deploy.canary: true in a hub's hubploy.yaml) deploys and checks those hubs first; if one
fails, the others are not attempted, and the summary says so.

The 0.3 form "hubploy deploy HUB CHART ENV" is accepted too.`,
		Example: `  hubploy deploy datahub staging
  hubploy deploy --env prod --all --atomic --timeout 30m
  hubploy deploy --env staging datahub stat20 --output json
  hubploy deploy datahub prod --print-commands
  hubploy deploy --env prod --all --canary datahub --check --rollback-on-failure
  hubploy plan --base origin/staging -o json > plan.json && hubploy deploy --env staging --plan plan.json`,
		ValidArgsFunction: func(c *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
			if d.Env != "" {
				return hubCompletion(g)(c, args, s)
			}
			return hubEnvCompletion(g)(c, args, s)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := deployTargets(g, &d.Targets, args); err != nil {
				return err
			}
			cfg, err := g.config()
			if err != nil {
				return err
			}
			d.Config, d.Cluster, d.CheckOptions, d.Progress = cfg, cf.options(), checks.options(), deploy.PrintProgress(g.stderr)
			if printCmds {
				text, err := d.Commands(cmd.Context())
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(g.stdout, text)
				return err
			}
			rep, err := d.Run(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				err = g.printJSON(rep)
			} else {
				for _, res := range rep.Results {
					if _, err = fmt.Fprint(g.stdout, res.Manifest); err != nil {
						return err
					}
				}
				err = deploy.WriteSummary(g.stdout, rep.Results)
			}
			if err != nil {
				return err
			}
			if !rep.OK {
				for _, res := range rep.Results {
					if res.Error != "" {
						g.logf("error: %s", res.Error)
					}
				}
				return checkFailed
			}
			return nil
		},
	}
	f := cmd.Flags()
	cf.add(cmd)
	f.StringVar(&d.Env, "env", "", "environment to deploy; then the arguments are hub names")
	f.BoolVar(&d.All, "all", false, "with --env: deploy every hub that has that environment")
	f.StringVar(&d.PlanFile, "plan", "", "with --env: deploy the hubs this plan (hubploy plan -o json) deploys in that environment")
	f.StringVar(&d.ChartVersion, "version", "", "refuse to deploy unless the umbrella chart has this version")
	d.Upgrade.Timeout = deploy.DefaultTimeout
	f.Var((*timeoutFlag)(&d.Upgrade.Timeout), "timeout", "how long to wait for the release's resources to be ready: 30m, 90s, or a number of seconds as in hubploy 0.3")
	f.BoolVar(&d.Upgrade.Force, "force", false, "deploy even if nothing changed, and replace resources that cannot be patched")
	f.BoolVar(&d.Upgrade.Atomic, "atomic", false, "on failure or timeout, roll back to the last deployed revision")
	f.BoolVar(&d.Upgrade.CleanupOnFail, "cleanup-on-fail", false, "delete resources the failed upgrade created")
	f.BoolVar(&d.Upgrade.DryRun, "dry-run", false, "render against the cluster and print the manifests (secrets masked); change nothing")
	f.BoolVar(&d.Upgrade.Recover, "recover", false, "roll back a release left pending by a killed run, then deploy")
	f.IntVar(&d.PerCluster, "concurrency", deploy.DefaultPerCluster, "hubs deployed at once on one cluster")
	f.BoolVar(&d.SkipImageCheck, "skip-image-check", false, "deploy without first checking that the registries have the image tags the release sets (for registries hubploy cannot reach)")
	f.BoolVar(&d.Check, "check", false, "after each hub's deploy, check that it works (as hubploy check does; see its help for the address and token)")
	f.BoolVar(&d.RollbackOnFailure, "rollback-on-failure", false, "with --check: roll a hub whose check failed back to the revision live before the deploy")
	f.StringSliceVar(&d.Canaries, "canary", nil, "HUB[,HUB]: deploy and check these hubs first, and the others only if they pass (also hubploy.yaml's deploy.canary)")
	checks.add(cmd, "check-")
	f.BoolVar(&printCmds, "print-commands", false, "print the helm and sops commands that do this deploy by hand, and deploy nothing")
	completeFlag(cmd, "env", envCompletion(g))
	return uses(cmd, renderFlags...)
}

// deployTargets reads "HUB ENV", "HUB CHART ENV" (0.3) or "--env ENV HUB...|--all".
func deployTargets(g *globals, t *action.Targets, args []string) error {
	usage := usageError{fmt.Errorf("usage: hubploy deploy HUB ENV, or hubploy deploy --env ENV (HUB... | --all | --plan FILE)")}
	switch {
	case t.PlanFile != "" && (t.Env == "" || t.All || len(args) > 0):
		return usage
	case t.PlanFile != "":
	case t.Env != "" && t.All == (len(args) > 0):
		return usage
	case t.Env != "":
		t.Hubs = args
	case len(args) == 2 && !t.All:
		t.Hubs, t.Env = args[:1], args[1]
	case len(args) == 3 && !t.All: // hubploy 0.3: deploy <deployment> <chart> <environment>
		t.Hubs, g.chartDir, t.Env = args[:1], args[1], args[2]
	default:
		return usage
	}
	return nil
}

func newDiffCmd(g *globals) *cobra.Command {
	var cf clusterFlags
	var exitCode bool
	cmd := &cobra.Command{
		Use:   "diff HUB ENV",
		Short: "Show what a deploy would change in the live release, object by object",
		Long: `Render the release against the cluster and print a unified diff per object against
the deployed revision. Secret data and values from encrypted files are masked on both
sides; a changed secret shows as "` + deploy.ChangedMarker + `".

With --exit-code (or --detailed-exitcode, as helm-diff and terraform call it) the exit
code says what was found: 0 no change, 2 changes, 1 an error.`,
		Args:              exactArgs(2),
		ValidArgsFunction: hubEnvCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := diff(cmd, g, cf, args)
			if exitCode {
				switch {
				case err != nil:
					return exitError{code: exitFailure, err: err}
				case res.Changed > 0:
					return exitError{code: exitInput}
				}
			}
			return err
		},
	}
	cf.add(cmd)
	cmd.Flags().BoolVar(&exitCode, "exit-code", false, "exit 2 when there are changes, 0 when none, 1 on error")
	cmd.Flags().BoolVar(&exitCode, "detailed-exitcode", false, "the same as --exit-code")
	return uses(cmd, renderFlags...)
}

func diff(cmd *cobra.Command, g *globals, cf clusterFlags, args []string) (*deploy.DiffResult, error) {
	cfg, err := g.config()
	if err != nil {
		return nil, err
	}
	res, err := (&action.Diff{Config: cfg, Hub: args[0], Env: args[1], Cluster: cf.options()}).Run(cmd.Context())
	if err != nil {
		return nil, err
	}
	if g.json() {
		return res, g.printJSON(res)
	}
	if _, err := fmt.Fprint(g.stdout, res.Text); err != nil {
		return nil, err
	}
	g.logf("%s: %d object(s) would change (live revision %d)", res.Release, res.Changed, res.Live)
	return res, nil
}

// liveCmd is a command on a hub's live release: status, history, rollback.
func liveCmd(g *globals, cf *clusterFlags, c *cobra.Command) *cobra.Command {
	c.ValidArgsFunction = hubEnvCompletion(g)
	cf.add(c)
	return uses(c, repoFlags, secretFlags, outputFlags)
}

func newStatusCmd(g *globals) *cobra.Command {
	var cf clusterFlags
	return liveCmd(g, &cf, &cobra.Command{
		Use:   "status HUB ENV",
		Short: "Show a hub's live release and the readiness of each of its resources",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			st, err := (&action.Status{Config: cfg, Hub: args[0], Env: args[1], Cluster: cf.options()}).Run(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				return g.printJSON(st)
			}
			return action.WriteStatus(g.stdout, st)
		},
	})
}

func newHistoryCmd(g *globals) *cobra.Command {
	var cf clusterFlags
	return liveCmd(g, &cf, &cobra.Command{
		Use:   "history HUB ENV",
		Short: "List the revisions of a hub's release: status, chart, when (for rollback)",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			revs, err := (&action.History{Config: cfg, Hub: args[0], Env: args[1], Cluster: cf.options()}).Run(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				return g.printJSON(revs)
			}
			return action.WriteHistory(g.stdout, revs)
		},
	})
}

func newRollbackCmd(g *globals) *cobra.Command {
	var cf clusterFlags
	timeout := timeoutFlag(deploy.DefaultTimeout)
	cmd := liveCmd(g, &cf, &cobra.Command{
		Use:   "rollback HUB ENV [REVISION]",
		Short: "Roll a hub's release back to a revision (default: the previous one) and wait",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) < 2 || len(args) > 3 {
				return usageError{fmt.Errorf("usage: %s", c.UseLine())}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			rb := &action.Rollback{Hub: args[0], Env: args[1], Cluster: cf.options(), Timeout: time.Duration(timeout)}
			if len(args) == 3 {
				n, err := strconv.Atoi(args[2])
				if err != nil || n < 1 {
					return usageError{fmt.Errorf("REVISION must be a positive number, not %q (see `hubploy history %s %s`)", args[2], args[0], args[1])}
				}
				rb.Revision = n
			}
			cfg, err := g.config()
			if err != nil {
				return err
			}
			rb.Config, rb.Progress = cfg, g.progress(rb.Hub+"/"+rb.Env)
			res, err := rb.Run(cmd.Context())
			if err != nil {
				return err
			}
			if g.json() {
				return g.printJSON(res)
			}
			_, err = fmt.Fprintf(g.stdout, "rolled back %s: now at revision %d\n", res.Release, res.Revision)
			return err
		},
	})
	cmd.Flags().Var(&timeout, "timeout", "how long to wait for the resources to be ready: 30m, 90s, or a number of seconds")
	return cmd
}
