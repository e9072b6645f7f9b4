package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"

	"github.com/hubploy/hubploy/pipeline/charts"
	"github.com/hubploy/hubploy/pipeline/images"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
	"github.com/hubploy/hubploy/pipeline/values"
)

// globals are the flags every command shares.
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
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentPreRunE = func(*cobra.Command, []string) error { return g.checkOutput() }
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see `%s --help`)", err, c.CommandPath())}
	})
	f := root.PersistentFlags()
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
	root.AddCommand(newRenderCmd(g), newValidateCmd(g), newDecryptCmd(g), newDeployCmd(g), newDiffCmd(g), newStatusCmd(g), newRollbackCmd(g))
	root.AddCommand(newBuildCmd(g), newPublishCmd(g))
	root.AddCommand(newImagesCmd(g))
	return root
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

func (g *globals) checkOutput() error {
	if g.output != "text" && g.output != "json" {
		return usageError{fmt.Errorf("--output must be text or json, not %q", g.output)}
	}
	return nil
}

// printJSON writes v to stdout as indented JSON, for --output json.
func (g *globals) printJSON(v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (g *globals) openRepo() (*repo.Repo, error) {
	return repo.Open(g.repoDir)
}

func (g *globals) decrypter() (*secrets.Decrypter, error) {
	d := &secrets.Decrypter{AllowUnencrypted: g.allowUnencrypted}
	if g.ageKeyFile != "" {
		data, err := os.ReadFile(g.ageKeyFile)
		if err != nil {
			return nil, &inputerr.Error{File: g.ageKeyFile, Msg: "cannot read the age key file", Hint: "check --age-key-file", Err: err}
		}
		d.AgeIdentities = []string{string(data)}
	}
	return d, nil
}

// keychain is the registry credentials of hub h, its secrets decrypted in memory.
func (g *globals) keychain(h *repo.Hub) (authn.Keychain, error) {
	dec, err := g.decrypter()
	if err != nil {
		return nil, err
	}
	return images.Keychain(h, dec)
}

func (g *globals) releaseOptions() (release.Options, error) {
	dec, err := g.decrypter()
	if err != nil {
		return release.Options{}, err
	}
	specs := append([]string{os.Getenv(charts.MirrorsEnv)}, g.chartMirrors...)
	mirrors, err := charts.ParseMirrors(specs)
	if err != nil {
		return release.Options{}, err
	}
	for from, to := range mirrors {
		// A relative mirror folder is relative to where hubploy runs, as any path flag.
		if !strings.Contains(to, "://") {
			if abs, err := filepath.Abs(to); err == nil {
				mirrors[from] = abs
			}
		}
	}
	return release.Options{
		ChartDir:  g.chartDir,
		Decrypter: dec,
		Charts: &charts.Loader{CacheDir: g.chartCache, Mirrors: mirrors, Progress: func(format string, args ...any) {
			fmt.Fprintf(g.stderr, "hubploy: "+format+"\n", args...)
		}},
		Values: values.Options{ValueFiles: g.valueFiles, Set: g.set, SetString: g.setString},
	}, nil
}
