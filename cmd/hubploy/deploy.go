package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/deploy"
	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/repo"
)

// clusterFlags choose and override how hubs reach their cluster.
type clusterFlags struct {
	kubeconfig  string
	kubeContext string
	namespace   string
}

func (cf *clusterFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&cf.kubeconfig, "kubeconfig", "", "use this kubeconfig (may be sops-encrypted) instead of the one hubploy.yaml names")
	c.Flags().StringVar(&cf.kubeContext, "kube-context", "", "kubeconfig context to use (overrides cluster.kubeconfig.context)")
	c.Flags().StringVar(&cf.namespace, "namespace", "", "namespace to deploy into (default: hubploy.yaml's deploy.namespace, or <hub>-<env>)")
}

// access builds hub h's cluster access for namespace.
func (cf *clusterFlags) access(g *globals, h *repo.Hub, namespace string) (*cluster.Access, error) {
	dec, err := g.decrypter()
	if err != nil {
		return nil, err
	}
	opts := cluster.Options{Context: cf.kubeContext}
	if cf.kubeconfig != "" {
		if opts.Kubeconfig, _, err = dec.ReadFile(cf.kubeconfig, cf.kubeconfig); err != nil {
			return nil, err
		}
	}
	return cluster.ForHub(h, namespace, dec, opts)
}

func newDeployCmd(g *globals) *cobra.Command {
	var (
		cf           clusterFlags
		d            deploy.Deploy
		env          string
		all          bool
		chartVersion string
		perCluster   int
		printCmds    bool
	)
	cmd := &cobra.Command{
		Use:   "deploy HUB ENV | deploy --env ENV (HUB... | --all)",
		Short: "helm upgrade --install one hub, or many in parallel, and wait until ready",
		Long: `Deploy hubs with the helm SDK in process: layered values with secrets decrypted in
memory, the chart's dependencies from the cache, then an upgrade (or install) of the
release <hub>-<env> in namespace <hub>-<env>, created if absent. hubploy waits until every
resource of the release is ready (kstatus), printing each change; Ctrl-C stops cleanly.

A release whose rendered manifests and values equal the deployed revision's is left alone
("unchanged"; --force deploys anyway). A release left pending by a run that was killed is
reported; --recover rolls it back to its last good revision and goes on. A second hubploy
deploying the same release at the same time fails at once.

Many hubs deploy in parallel, at most --concurrency per cluster; one hub's failure does
not stop the others, and the exit code is 1 if any failed.

The 0.3 form "hubploy deploy HUB CHART ENV" is accepted too.`,
		Example: `  hubploy deploy datahub staging
  hubploy deploy --env prod --all --atomic --timeout 30m
  hubploy deploy --env staging datahub stat20 --output json
  hubploy deploy datahub prod --print-commands`,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := g.openRepo()
			if err != nil {
				return err
			}
			hubNames, envName, err := deployTargets(r, g, args, env, all)
			if err != nil {
				return err
			}
			if cf.namespace != "" && len(hubNames) > 1 {
				return usageError{fmt.Errorf("--namespace applies to one hub only")}
			}
			opts, err := g.releaseOptions()
			if err != nil {
				return err
			}
			opts.Namespace = cf.namespace
			var jobs []deploy.Job
			for _, name := range hubNames {
				h, err := r.Hub(name)
				if err != nil {
					return err
				}
				rel, err := release.Prepare(cmd.Context(), h, envName, opts)
				if err != nil {
					return err
				}
				if err := rel.CheckChartVersion(chartVersion); err != nil {
					return err
				}
				if printCmds {
					ctx := cf.kubeContext
					if ctx == "" && h.Config.Cluster != nil && h.Config.Cluster.Kubeconfig != nil {
						ctx = h.Config.Cluster.Kubeconfig.KubeContext(rel.Namespace)
					}
					fmt.Fprint(g.stdout, d.Commands(rel, ctx))
					continue
				}
				access, err := cf.access(g, h, rel.Namespace)
				if err != nil {
					return err
				}
				jobs = append(jobs, deploy.Job{Release: rel, Access: access})
			}
			if printCmds {
				return nil
			}
			many := &deploy.Many{Options: d, PerCluster: perCluster, Progress: deploy.PrintProgress(g.stderr)}
			results := many.Run(cmd.Context(), jobs)
			failed := 0
			for _, res := range results {
				if res.Outcome == deploy.Failed {
					failed++
				}
			}
			if g.output == "json" {
				if err := g.printJSON(results); err != nil {
					return err
				}
			} else {
				for _, res := range results {
					if res.Manifest != "" {
						fmt.Fprint(g.stdout, res.Manifest)
					}
				}
				deploy.WriteSummary(g.stdout, results)
			}
			if failed > 0 {
				for _, res := range results {
					if res.Error != "" {
						fmt.Fprintf(g.stderr, "hubploy: error: %s\n", res.Error)
					}
				}
				return checkFailed
			}
			return nil
		},
	}
	f := cmd.Flags()
	cf.add(cmd)
	f.StringVar(&env, "env", "", "environment to deploy; then the arguments are hub names")
	f.BoolVar(&all, "all", false, "with --env: deploy every hub that has that environment")
	f.StringVar(&chartVersion, "version", "", "refuse to deploy unless the umbrella chart has this version")
	d.Timeout = deploy.DefaultTimeout
	f.Var((*timeoutFlag)(&d.Timeout), "timeout", "how long to wait for the release's resources to be ready: 30m, 90s, or a number of seconds as in hubploy 0.3")
	f.BoolVar(&d.Force, "force", false, "deploy even if nothing changed, and replace resources that cannot be patched")
	f.BoolVar(&d.Atomic, "atomic", false, "on failure or timeout, roll back to the last deployed revision")
	f.BoolVar(&d.CleanupOnFail, "cleanup-on-fail", false, "delete resources the failed upgrade created")
	f.BoolVar(&d.DryRun, "dry-run", false, "render against the cluster and print the manifests (secrets masked); change nothing")
	f.BoolVar(&d.Recover, "recover", false, "roll back a release left pending by a killed run, then deploy")
	f.IntVar(&perCluster, "concurrency", deploy.DefaultPerCluster, "hubs deployed at once on one cluster")
	f.BoolVar(&printCmds, "print-commands", false, "print the helm and sops commands that do this deploy by hand, and deploy nothing")
	return cmd
}

// deployTargets reads "HUB ENV", "HUB CHART ENV" (0.3) or "--env ENV HUB...|--all".
func deployTargets(r *repo.Repo, g *globals, args []string, env string, all bool) ([]string, string, error) {
	usage := usageError{fmt.Errorf("usage: hubploy deploy HUB ENV, or hubploy deploy --env ENV (HUB... | --all)")}
	if env == "" {
		switch len(args) {
		case 2:
			return args[:1], args[1], nil
		case 3: // hubploy 0.3: deploy <deployment> <chart> <environment>
			g.chartDir = args[1]
			return args[:1], args[2], nil
		}
		return nil, "", usage
	}
	if all == (len(args) > 0) {
		return nil, "", usage
	}
	if !all {
		return args, env, nil
	}
	withEnv, err := r.HubsWithEnv(env)
	return withEnv, env, err
}

func newDiffCmd(g *globals) *cobra.Command {
	var cf clusterFlags
	cmd := &cobra.Command{
		Use:   "diff HUB ENV",
		Short: "Show what a deploy would change in the live release, object by object",
		Long: `Render the release against the cluster and print a unified diff per object against
the deployed revision. Secret data and values from encrypted files are masked on both
sides; a changed secret shows as "` + deploy.ChangedMarker + `".`,
		Args:              exactArgs(2),
		ValidArgsFunction: hubEnvCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			rel, access, err := prepareOne(cmd, g, &cf, args[0], args[1])
			if err != nil {
				return err
			}
			res, err := (&deploy.Diff{Access: access}).Run(cmd.Context(), rel)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return g.printJSON(res)
			}
			fmt.Fprint(g.stdout, res.Text)
			fmt.Fprintf(g.stderr, "%s: %d object(s) would change (live revision %d)\n", res.Release, res.Changed, res.Live)
			return nil
		},
	}
	cf.add(cmd)
	return cmd
}

// prepareOne loads one hub's release and its cluster access.
func prepareOne(cmd *cobra.Command, g *globals, cf *clusterFlags, hub, env string) (*release.Release, *cluster.Access, error) {
	r, err := g.openRepo()
	if err != nil {
		return nil, nil, err
	}
	h, err := r.Hub(hub)
	if err != nil {
		return nil, nil, err
	}
	opts, err := g.releaseOptions()
	if err != nil {
		return nil, nil, err
	}
	opts.Namespace = cf.namespace
	rel, err := release.Prepare(cmd.Context(), h, env, opts)
	if err != nil {
		return nil, nil, err
	}
	access, err := cf.access(g, h, rel.Namespace)
	return rel, access, err
}

// releaseOf names the release of a hub in env without reading its values.
func releaseOf(g *globals, cf *clusterFlags, hub, env string) (name, namespace string, access *cluster.Access, err error) {
	r, err := g.openRepo()
	if err != nil {
		return "", "", nil, err
	}
	h, err := r.Hub(hub)
	if err != nil {
		return "", "", nil, err
	}
	if err := h.CheckEnv(env); err != nil {
		return "", "", nil, err
	}
	name, namespace = h.Config.ReleaseAndNamespace(hub, env)
	if cf.namespace != "" {
		namespace = cf.namespace
	}
	access, err = cf.access(g, h, namespace)
	return name, namespace, access, err
}

func newStatusCmd(g *globals) *cobra.Command {
	var cf clusterFlags
	cmd := &cobra.Command{
		Use:               "status HUB ENV",
		Short:             "Show a hub's live release and the readiness of each of its resources",
		Args:              exactArgs(2),
		ValidArgsFunction: hubEnvCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, ns, access, err := releaseOf(g, &cf, args[0], args[1])
			if err != nil {
				return err
			}
			st, err := (&deploy.Status{Access: access}).Run(cmd.Context(), name, ns)
			if err != nil {
				return err
			}
			if g.output == "json" {
				return g.printJSON(st)
			}
			fmt.Fprintf(g.stdout, "release %s in %s: %s, revision %d, chart %s, updated %s\n", st.Release, st.Namespace, st.Status, st.Revision, st.Chart, st.Updated.Format(time.RFC3339))
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RESOURCE\tSTATUS\tMESSAGE")
			for _, r := range st.Resources {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Resource, r.Status, r.Message)
			}
			return tw.Flush()
		},
	}
	cf.add(cmd)
	return cmd
}

func newRollbackCmd(g *globals) *cobra.Command {
	var cf clusterFlags
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "rollback HUB ENV [REVISION]",
		Short: "Roll a hub's release back to a revision (default: the previous one) and wait",
		Args: func(c *cobra.Command, args []string) error {
			if len(args) < 2 || len(args) > 3 {
				return usageError{fmt.Errorf("usage: %s", c.UseLine())}
			}
			return nil
		},
		ValidArgsFunction: hubEnvCompletion(g),
		RunE: func(cmd *cobra.Command, args []string) error {
			revision := 0
			if len(args) == 3 {
				n, err := strconv.Atoi(args[2])
				if err != nil || n < 1 {
					return usageError{fmt.Errorf("REVISION must be a positive number, not %q", args[2])}
				}
				revision = n
			}
			name, ns, access, err := releaseOf(g, &cf, args[0], args[1])
			if err != nil {
				return err
			}
			start := time.Now()
			rb := &deploy.Rollback{Access: access, Timeout: timeout, Progress: func(format string, a ...any) {
				fmt.Fprintf(g.stderr, "[%6.1fs] %s: %s\n", time.Since(start).Seconds(), name, fmt.Sprintf(format, a...))
			}}
			rev, err := rb.Run(cmd.Context(), name, ns, revision)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "rolled back %s: now at revision %d\n", name, rev)
			return nil
		},
	}
	cf.add(cmd)
	timeout = deploy.DefaultTimeout
	cmd.Flags().Var((*timeoutFlag)(&timeout), "timeout", "how long to wait for the resources to be ready: 30m, 90s, or a number of seconds")
	return cmd
}

// timeoutFlag is a duration that also takes a bare number of seconds, as hubploy 0.3's
// --timeout did (and helm 2's).
type timeoutFlag time.Duration

func (t *timeoutFlag) String() string { return time.Duration(*t).String() }
func (t *timeoutFlag) Type() string   { return "duration" }
func (t *timeoutFlag) Set(s string) error {
	d, err := deploy.ParseTimeout(s)
	*t = timeoutFlag(d)
	return err
}
