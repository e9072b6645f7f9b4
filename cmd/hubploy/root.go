package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hubploy/hubploy/pipeline/action"
	"github.com/hubploy/hubploy/pipeline/charts"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

// Flag groups. The shared flags are the root's, so that they can come before the
// command as well as after it (`hubploy --repo r validate`), but each command says
// which groups mean something to it: the others are refused and left out of its help.
const (
	groupAnnotation = "hubploy-flag-groups"
	repoFlags       = "repo"    // --repo
	secretFlags     = "secrets" // --age-key-file, --allow-unencrypted-secrets
	chartFlags      = "chart"   // --chart, --chart-mirror, --chart-cache
	valueFlags      = "values"  // --values, --set, --set-string
	outputFlags     = "output"  // --output
)

// renderFlags are the groups of the commands that render a hub.
var renderFlags = []string{repoFlags, secretFlags, chartFlags, valueFlags, outputFlags}

// globals are the shared flags' values, and where hubploy writes.
type globals struct {
	repoDir          string
	chartDir         string
	chartMirrors     []string
	chartCache       string
	ageKeyFile       string
	allowUnencrypted bool
	output           string
	valueFiles       []string
	set              []string
	setString        []string
	verbose, debug   bool
	helmDebug        bool

	stdout, stderr io.Writer
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "hubploy",
		Short: "Continuous deployment of JupyterHubs on Kubernetes",
		Long: `hubploy renders, checks and deploys the JupyterHubs of a deployment repository:
deployments/<hub>/hubploy.yaml, config/common.yaml, config/<env>.yaml and sops-encrypted
secrets/<env>.yaml for each hub, and an umbrella chart (hub/) that depends on the
Zero to JupyterHub chart.

Exit codes: 0 success, 1 failure (or problems found), 2 bad usage or bad input.`,
		Version:       action.Version().Hubploy,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Runnable, so that an unknown command is a usage error rather than help.
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return c.Help()
			}
			return usageError{fmt.Errorf("unknown command %q (see `hubploy --help`)%s", args[0], suggest(c, args[0]))}
		},
	}
	root.SuggestionsMinimumDistance = 2 // cobra's own default, which SuggestionsFor does not apply
	root.SetVersionTemplate(versionText())
	root.PersistentPreRunE = func(c *cobra.Command, _ []string) error { return g.checkFlags(c) }
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see `%s --help`)", err, c.CommandPath())}
	})
	f := root.PersistentFlags()
	group := func(name string, flags ...string) {
		for _, fl := range flags {
			if err := f.SetAnnotation(fl, groupAnnotation, []string{name}); err != nil {
				panic(err) // a flag name misspelled here: every test that makes the root finds it
			}
		}
	}
	f.StringVar(&g.repoDir, "repo", ".", "the deployment repository's root folder")
	f.StringVar(&g.chartDir, "chart", release.DefaultChartDir, "the umbrella chart's folder, relative to the repository root")
	f.StringArrayVar(&g.chartMirrors, "chart-mirror", nil, "REPOSITORY_URL=MIRROR: fetch that chart repository's charts from MIRROR, a URL or a local folder (repeatable; also "+charts.MirrorsEnv+")")
	f.StringVar(&g.chartCache, "chart-cache", "", "folder for downloaded chart dependencies (default: the user cache folder)")
	f.StringVar(&g.ageKeyFile, "age-key-file", "", "age key file for sops secrets, tried before SOPS_AGE_KEY/SOPS_AGE_KEY_FILE and sops' other key sources")
	f.BoolVar(&g.allowUnencrypted, "allow-unencrypted-secrets", false, "accept unencrypted files whose name says secret (repos protected by git-crypt)")
	f.StringVarP(&g.output, "output", "o", "text", "output format: text or json")
	f.StringArrayVarP(&g.valueFiles, "values", "f", nil, "extra values file, applied after the repo's files (repeatable; may be sops-encrypted)")
	f.StringArrayVar(&g.set, "set", nil, "set values on the command line (key.path=value, repeatable)")
	f.StringArrayVar(&g.setString, "set-string", nil, "set STRING values on the command line (key.path=value, repeatable)")
	// hubploy 0.3's and v1.2's global flags, which CI scripts put before the command.
	f.BoolVarP(&g.verbose, "verbose", "v", false, "say what each hub's preparation and cluster access are, with timings")
	f.BoolVarP(&g.debug, "debug", "d", false, "--verbose, and each values layer as it applies")
	f.BoolVarP(&g.helmDebug, "helm-debug", "D", false, "print helm's own debug log (masked)")
	group(repoFlags, "repo")
	group(chartFlags, "chart", "chart-mirror", "chart-cache")
	group(secretFlags, "age-key-file", "allow-unencrypted-secrets")
	group(outputFlags, "output")
	group(valueFlags, "values", "set", "set-string")
	root.AddCommand(newValidateCmd(g), newRenderCmd(g), newDecryptCmd(g),
		newDeployCmd(g), newDiffCmd(g), newStatusCmd(g), newHistoryCmd(g), newRollbackCmd(g),
		newImagesCmd(g), newBuildCmd(g), newPublishCmd(g), newVersionCmd(g),
		newLockCmd(g), newCheckCmd(g), newTestCmd(g), newPlanCmd(g), newVerifyBranchesCmd(g), newDoctorCmd(g),
		newModuleCallCmd(g))
	cobra.AddTemplateFunc("applicableGlobalFlags", applicableGlobalFlags)
	root.SetUsageTemplate(strings.ReplaceAll(root.UsageTemplate(), ".InheritedFlags.FlagUsages", "applicableGlobalFlags ."))
	return root
}

// uses marks the flag groups that mean something to c.
func uses(c *cobra.Command, groups ...string) *cobra.Command {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[groupAnnotation] = strings.Join(groups, ",")
	return c
}

func applies(c *cobra.Command, f *pflag.Flag) bool {
	groups, ok := f.Annotations[groupAnnotation]
	if !ok {
		return true // help, and flags of parent commands
	}
	return slices.Contains(strings.Split(c.Annotations[groupAnnotation], ","), groups[0])
}

// applicableGlobalFlags is the help text of the shared flags c accepts.
func applicableGlobalFlags(c *cobra.Command) string {
	fs := pflag.NewFlagSet(c.Name(), pflag.ContinueOnError)
	c.InheritedFlags().VisitAll(func(f *pflag.Flag) {
		if applies(c, f) {
			fs.AddFlag(f)
		}
	})
	return fs.FlagUsages()
}

// checkFlags refuses shared flags that c does not use, and a bad --output.
func (g *globals) checkFlags(c *cobra.Command) error {
	if !c.HasParent() {
		return nil // hubploy alone: help, or an unknown command, which says so
	}
	var err error
	c.Flags().Visit(func(f *pflag.Flag) {
		if err == nil && !applies(c, f) {
			err = usageError{fmt.Errorf("--%s does not apply to `%s` (see `%s --help`)", f.Name, c.CommandPath(), c.CommandPath())}
		}
	})
	if err == nil && g.output != "text" && g.output != "json" {
		err = usageError{fmt.Errorf("--output must be text or json, not %q", g.output)}
	}
	return err
}

func suggest(c *cobra.Command, name string) string {
	if s := c.SuggestionsFor(name); len(s) > 0 {
		return "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return ""
}

// exactArgs is cobra.ExactArgs, as a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(c, args); err != nil {
			return usageError{fmt.Errorf("%w: usage: %s", err, c.UseLine())}
		}
		return nil
	}
}

func (g *globals) json() bool { return g.output == "json" }

// printJSON writes v to stdout as indented JSON, for --output json.
func (g *globals) printJSON(v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// progress returns a Progress for one subject (a hub, or hub/env): each line to stderr
// with the time since it was made, as deploy's are. See logf on why a failed write is
// let go.
func (g *globals) progress(subject string) func(format string, args ...any) {
	start := time.Now()
	return func(format string, args ...any) {
		fmt.Fprintf(g.stderr, "[%6.1fs] %s: %s\n", time.Since(start).Seconds(), subject, fmt.Sprintf(format, args...))
	}
}

// logf writes a diagnostic line to stderr. A failed write there has nowhere to be
// reported, and the command's result does not depend on it.
func (g *globals) logf(format string, args ...any) {
	fmt.Fprintf(g.stderr, "hubploy: "+format+"\n", args...)
}

// config turns the shared flags into the application layer's configuration.
func (g *globals) config() (*action.Config, error) {
	s := action.Settings{
		RepoDir: g.repoDir, ChartDir: g.chartDir, ChartCache: g.chartCache,
		ChartMirrors:            append([]string{os.Getenv(charts.MirrorsEnv)}, g.chartMirrors...),
		AllowUnencryptedSecrets: g.allowUnencrypted,
		ValueFiles:              g.valueFiles, Set: g.set, SetString: g.setString,
		Log:     g.logf,
		Verbose: g.verbose, Debug: g.debug, HelmDebug: g.helmDebug,
	}
	if g.ageKeyFile != "" {
		data, err := os.ReadFile(g.ageKeyFile)
		if err != nil {
			return nil, &inputerr.Error{File: g.ageKeyFile, Msg: "cannot read the age key file", Hint: "check --age-key-file", Err: err}
		}
		// Checked here, where the file's name is known: the key's content goes on alone.
		if _, err := secrets.ParseAgeKeys(g.ageKeyFile, string(data)); err != nil {
			return nil, err
		}
		s.AgeKeys = []string{string(data)}
	}
	return action.New(s)
}

// completeFlag registers a flag's completion; it fails only for a flag that does not
// exist, which every test that makes the root would find.
func completeFlag(c *cobra.Command, flag string, f func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective)) {
	if err := c.RegisterFlagCompletionFunc(flag, f); err != nil {
		panic(err)
	}
}

// hubCompletion completes hub names.
func hubCompletion(g *globals) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return g.hubNames(), cobra.ShellCompDirectiveNoFileComp
	}
}

// hubEnvCompletion completes a hub name, then one of its environments.
func hubEnvCompletion(g *globals) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			return g.hubNames(), cobra.ShellCompDirectiveNoFileComp
		case 1:
			return g.envNames(args[:1]), cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// envCompletion completes --env with the environments of the hubs named (every hub's
// when none is).
func envCompletion(g *globals) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		return g.envNames(args), cobra.ShellCompDirectiveNoFileComp
	}
}

// hubNames and envNames complete: a repository that cannot be read completes nothing.
func (g *globals) hubNames() []string {
	c, err := g.config()
	if err != nil {
		return nil
	}
	names, _ := c.HubNames(nil)
	return names
}

func (g *globals) envNames(hubs []string) []string {
	c, err := g.config()
	if err != nil {
		return nil
	}
	envs, _ := c.EnvNames(hubs)
	return envs
}
