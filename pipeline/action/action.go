// Package action is hubploy's application layer: one type per job (validate, render,
// decrypt, deploy, diff, status, history, rollback, images, build and publish), with
// its options as fields and one Run, as helm's pkg/action. Both front ends, the CLI
// and the Dagger module, call it for every job: they only turn their arguments into
// these options and print or convert the typed results.
package action

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hubploy/hubploy/pipeline/charts"
	"github.com/hubploy/hubploy/pipeline/cloud"
	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/mask"
	"github.com/hubploy/hubploy/pipeline/plan"
	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
	"github.com/hubploy/hubploy/pipeline/values"
)

// Settings are what every job of one run shares: where the repository is, how to
// decrypt it, where charts come from, and values given on top of the repository's.
type Settings struct {
	RepoDir      string   // the deployment repository's root
	ChartDir     string   // the umbrella chart, relative to the root; empty: release.DefaultChartDir
	ChartMirrors []string // REPOSITORY_URL=MIRROR specs, comma-separated lists allowed
	ChartCache   string   // empty: the user cache folder
	// AgeKeys are age identities (files' contents), tried before the keys sops finds.
	AgeKeys                 []string
	AllowUnencryptedSecrets bool
	ValueFiles              []string // --values, in order; may be sops-encrypted
	Set, SetString          []string
	// PathBase is the folder that relative paths in these settings and in the jobs'
	// options (value files, mirror folders, files to decrypt, kubeconfigs) are
	// relative to; empty means the working directory.
	PathBase string
	// ConfineToRepo refuses such paths outside the repository: the Dagger module's
	// container holds nothing else worth reading.
	ConfineToRepo bool
	// Clouds are the cloud APIs of the hubs whose cluster or registry block is a
	// cloud's, and of sops' KMS keys; nil: the real clouds, as this process's
	// environment points at them (cloud.FromEnvironment).
	Clouds *cloud.APIs
	// Credentials, if set, replace this process's environment as the source of
	// default credentials: the clouds' and sops' key services'.
	Credentials *Credentials
	// Log receives diagnostics (chart downloads and the like); nil drops them.
	Log func(format string, args ...any)
	// Verbose logs each hub's preparation and cluster access; Debug also each values
	// layer; HelmDebug passes helm's own debug log on, masked (hubploy 0.3's and
	// v1.2's -v, -d and -D).
	Verbose, Debug, HelmDebug bool
}

// Config is a run's shared state, made from Settings by New; every job takes one.
type Config struct {
	Settings  Settings
	Decrypter *secrets.Decrypter
	Release   release.Options
	clouds    *cloud.APIs

	openOnce sync.Once
	repo     *repo.Repo
	repoErr  error
}

// New checks the settings and makes a Config. It does not open the repository
// until a job needs it, so that decrypting a file works anywhere.
func New(s Settings) (*Config, error) {
	c := &Config{Settings: s, Decrypter: &secrets.Decrypter{AgeIdentities: s.AgeKeys, AllowUnencrypted: s.AllowUnencryptedSecrets}, clouds: s.Clouds}
	if c.clouds == nil {
		c.clouds = cloud.FromEnvironment(os.Getenv)
	}
	if s.Credentials != nil {
		c.clouds = c.clouds.WithCredentials(s.Credentials.Clouds)
		c.Decrypter.Keys = s.Credentials.keys(c.clouds)
	}
	mirrors, err := charts.ParseMirrors(s.ChartMirrors)
	if err != nil {
		return nil, err
	}
	for from, to := range mirrors {
		if !strings.Contains(to, "://") {
			if mirrors[from], err = c.path("--chart-mirror", to); err != nil {
				return nil, err
			}
		}
	}
	var valueFiles []string
	for _, f := range s.ValueFiles {
		p, err := c.path("--values", f)
		if err != nil {
			return nil, err
		}
		valueFiles = append(valueFiles, p)
	}
	c.Release = release.Options{
		ChartDir:  s.ChartDir,
		Decrypter: c.Decrypter,
		Charts:    &charts.Loader{CacheDir: s.ChartCache, Mirrors: mirrors, Progress: c.log},
		Values:    values.Options{ValueFiles: valueFiles, Set: s.Set, SetString: s.SetString},
	}
	return c, nil
}

func (c *Config) log(format string, args ...any) {
	if c.Settings.Log != nil {
		c.Settings.Log(format, args...)
	}
}

// path resolves a path given by the user (flag names it in errors) against PathBase,
// and keeps it inside the repository when the settings say so.
func (c *Config) path(flag, p string) (string, error) {
	if !filepath.IsAbs(p) {
		base := c.Settings.PathBase
		if base == "" {
			wd, err := os.Getwd()
			if err != nil {
				return "", err
			}
			base = wd
		}
		p = filepath.Join(base, p)
	}
	p = filepath.Clean(p)
	if c.Settings.ConfineToRepo {
		root, err := filepath.Abs(c.Settings.RepoDir)
		if err != nil {
			return "", err
		}
		if rel, err := filepath.Rel(root, p); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return "", &inputerr.Error{Key: flag, Msg: fmt.Sprintf("%s is outside the repository", p), Hint: "name a path of the repository, relative to its root"}
		}
	}
	return p, nil
}

// Repo opens the repository, once.
func (c *Config) Repo() (*repo.Repo, error) {
	c.openOnce.Do(func() { c.repo, c.repoErr = repo.Open(c.Settings.RepoDir) })
	return c.repo, c.repoErr
}

// hub loads one hub of the repository.
func (c *Config) hub(name string) (*repo.Hub, error) {
	r, err := c.Repo()
	if err != nil {
		return nil, err
	}
	return r.Hub(name)
}

// HubNames returns the hubs named, checked to exist, or every hub when none is. A
// hub that exists but whose files are broken is returned: that is a finding of the
// job, not bad input.
func (c *Config) HubNames(names []string) ([]string, error) {
	r, err := c.Repo()
	if err != nil {
		return nil, err
	}
	known, err := r.HubNames()
	if err != nil || len(names) == 0 {
		return known, err
	}
	for _, name := range names {
		if !slices.Contains(known, name) {
			_, err := r.Hub(name) // says "not found", with the nearest names
			return nil, err
		}
	}
	return names, nil
}

// Targets are the hubs a job works on in one environment: Hubs, or All the hubs that
// have Env, or the hubs a plan deploys in Env (PlanFile, or Plan as read).
type Targets struct {
	Env      string
	Hubs     []string
	All      bool
	PlanFile string // what `hubploy plan -o json` wrote; relative to Settings.PathBase
	Plan     *plan.Plan
}

// hubs resolves the targets to hub names.
func (c *Config) hubs(t Targets) ([]string, error) {
	if t.Env == "" {
		return nil, &inputerr.Error{Key: "env", Msg: "no environment given", Hint: "name one, e.g. staging or prod"}
	}
	ways := 0
	for _, given := range []bool{t.All, len(t.Hubs) > 0, t.PlanFile != "" || t.Plan != nil} {
		if given {
			ways++
		}
	}
	if ways != 1 {
		return nil, &inputerr.Error{Msg: "name the hubs, or ask for all of them, or give a plan (one of the three)"}
	}
	r, err := c.Repo()
	if err != nil {
		return nil, err
	}
	switch {
	case t.All:
		return r.HubsWithEnv(t.Env)
	case len(t.Hubs) > 0:
		return t.Hubs, nil
	}
	p, display := t.Plan, "the plan"
	if p == nil {
		path, err := c.path("--plan", t.PlanFile)
		if err != nil {
			return nil, err
		}
		if p, err = plan.Read(path); err != nil {
			return nil, err
		}
		display = t.PlanFile
	}
	if p.Env != "" && p.Env != t.Env {
		return nil, &inputerr.Error{File: display, Msg: fmt.Sprintf("is a plan for %s, not %s", p.Env, t.Env), Hint: "make the plan for " + t.Env + ", or without --env"}
	}
	hubs := p.Hubs(t.Env)
	if len(hubs) == 0 {
		c.log("%s deploys no hub in %s", display, t.Env)
	}
	return hubs, nil
}

// prepare loads hub's release for env: chart, layered values, images, masker.
func (c *Config) prepare(ctx context.Context, hub, env, namespace string) (*release.Release, error) {
	h, err := c.hub(hub)
	if err != nil {
		return nil, err
	}
	opts := c.Release
	opts.Namespace = namespace
	start := time.Now()
	rel, err := release.Prepare(ctx, h, env, opts)
	if err != nil || !(c.Settings.Verbose || c.Settings.Debug) {
		return rel, err
	}
	c.log("%s/%s: prepared release %s in %s: %d values layer(s), chart %s-%s, %d image(s) (%.2fs)", hub, env, rel.Name, rel.Namespace,
		len(rel.Values.Layers), rel.Chart.Metadata.Name, rel.Chart.Metadata.Version, len(rel.Images), time.Since(start).Seconds())
	if c.Settings.Debug {
		for i, l := range rel.Values.Layers {
			c.log("%s/%s: values layer %d: %s", hub, env, i+1, rel.Masker.String(l.Source))
		}
	}
	return rel, nil
}

// ClusterOptions say how a job reaches a hub's cluster, over what hubploy.yaml says.
type ClusterOptions struct {
	// KubeconfigFile is a kubeconfig to use instead of the hub's (may be
	// sops-encrypted); relative to Settings.PathBase.
	KubeconfigFile string
	// Kubeconfig is the same, handed over as content (a Dagger secret).
	Kubeconfig []byte
	// Context replaces the hub's kubeconfig context (its template included).
	Context string
	// Namespace replaces the release's namespace (one hub only).
	Namespace string
	// Server replaces the API server's address (a tunnel to the same server).
	Server string
}

// access builds hub h's access to its cluster for namespace; masker, if the release
// is known, masks helm's debug log.
func (c *Config) access(h *repo.Hub, namespace string, co ClusterOptions, masker *mask.Masker) (*cluster.Access, error) {
	a, err := c.clusterAccess(h, namespace, co)
	if err != nil {
		return nil, err
	}
	if c.Settings.Verbose || c.Settings.Debug {
		c.log("%s: cluster %s (context %q, access from %s), namespace %s", h.Name, a.Server, a.Context, a.Source, namespace)
	}
	if c.Settings.HelmDebug {
		if masker == nil {
			masker = mask.New(nil)
		}
		a.HelmLog = func(format string, args ...any) {
			c.log("%s: helm: %s", h.Name, masker.String(fmt.Sprintf(format, args...)))
		}
	}
	return a, nil
}

func (c *Config) clusterAccess(h *repo.Hub, namespace string, co ClusterOptions) (*cluster.Access, error) {
	opts := cluster.Options{Context: co.Context, Server: co.Server, Clouds: c.clouds}
	var err error
	switch {
	case co.KubeconfigFile != "":
		p, perr := c.path("--kubeconfig", co.KubeconfigFile)
		if perr != nil {
			return nil, perr
		}
		if opts.Kubeconfig, _, err = c.Decrypter.ReadFile(p, co.KubeconfigFile); err != nil {
			return nil, err
		}
		opts.KubeconfigSource = co.KubeconfigFile
	case co.Kubeconfig != nil:
		opts.Kubeconfig = co.Kubeconfig
		if secrets.IsEncrypted(co.Kubeconfig) {
			if opts.Kubeconfig, err = c.Decrypter.Decrypt("the given kubeconfig", co.Kubeconfig); err != nil {
				return nil, err
			}
		}
	}
	return cluster.ForHub(h, namespace, c.Decrypter, opts)
}

// EnvNames lists the environments of the hubs named (of every hub when none is),
// sorted, each once.
func (c *Config) EnvNames(hubs []string) ([]string, error) {
	names, err := c.HubNames(hubs)
	if err != nil {
		return nil, err
	}
	var envs []string
	for _, name := range names {
		h, err := c.hub(name)
		if err != nil {
			return nil, err
		}
		more, err := h.Environments()
		if err != nil {
			return nil, err
		}
		envs = append(envs, more...)
	}
	slices.Sort(envs)
	return slices.Compact(envs), nil
}
