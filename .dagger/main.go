// Continuous deployment of JupyterHubs on Kubernetes, as a Dagger module.
//
// The same jobs as the hubploy CLI, on a deployment repository handed over as a
// Directory and credentials handed over as Secrets: validate, render, decrypt,
// deploy, diff, status, history, rollback, and build and publish a hub's user
// images. The work is done by hubploy's application layer (pipeline/action), the
// same the CLI calls; this module only converts Dagger's types.
package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"dagger/hubploy/internal/dagger"

	"github.com/hubploy/hubploy/pipeline/action"
	"github.com/hubploy/hubploy/pipeline/deploy"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	planpkg "github.com/hubploy/hubploy/pipeline/plan"
	"github.com/hubploy/hubploy/pipeline/validate"
)

// Hubploy renders, checks and deploys the JupyterHubs of one deployment repository.
type Hubploy struct {
	// +private
	Repo *dagger.Directory
	// +private
	GitDir *dagger.Directory
	// +private
	AgeKey *dagger.Secret
	// +private
	ChartMirrors []string
	// +private
	ChartDir string
	// +private
	AllowUnencryptedSecrets bool
	// +private
	ValueFiles []string
	// +private
	Set []string
	// +private
	SetString []string
	// +private
	BuildSecretIDs []string
	// +private
	BuildSecretValues []*dagger.Secret
	// +private
	Kubeconfig *dagger.Secret
	// +private
	KubeContext string
	// +private
	Namespace string
	// +private
	APIServer *dagger.Service
	// +private
	APIServerName string
	// +private
	CheckURL string
	// +private
	CheckToken *dagger.Secret
	// +private
	CheckHub *dagger.Service
	// +private
	CheckHubName string
	// +private
	CheckUser string
	// +private
	CheckAttempts int
	// +private
	CheckTimeout string
	// +private
	CheckStartTimeout string
	// +private
	CheckAttemptTimeout string
	// +private
	GoogleCredentials *dagger.Secret
	// +private
	AwsAccessKeyID *dagger.Secret
	// +private
	AwsSecretAccessKey *dagger.Secret
	// +private
	AwsSessionToken *dagger.Secret
	// +private
	AwsWebIdentityToken *dagger.Secret
	// +private
	AwsRoleArn string
	// +private
	AzureTenantID string
	// +private
	AzureClientID string
	// +private
	AzureClientSecret *dagger.Secret
	// +private
	AzureFederatedToken *dagger.Secret
	// +private
	GKEEndpoint string
	// +private
	GoogleTokenURI string
	// +private
	GCPKMSEndpoint string
	// +private
	AWSSTSEndpoint string
	// +private
	AWSEKSEndpoint string
	// +private
	AWSECREndpoint string
	// +private
	AWSKMSEndpoint string
	// +private
	AzureAuthorityHost string
	// +private
	AzureResourceManager string
	// +private
	CloudCA *dagger.File
	// +private
	CloudService *dagger.Service
	// +private
	CloudServiceName string
	// +private
	PgpKeys []*dagger.Secret
	// +private
	VaultToken *dagger.Secret
}

func New(
	// The deployment repository: deployments/<hub>/ with hubploy.yaml, config/ and
	// secrets/ for each hub, and the umbrella chart (hub/). By default the
	// repository this module is called from.
	// +defaultPath="/"
	// +ignore=[".git", "**/node_modules", "**/.venv", "**/__pycache__", ".dagger"]
	repo *dagger.Directory,
	// An age key file's content (one or more AGE-SECRET-KEY-… lines), to decrypt
	// the repository's sops-encrypted secrets.
	// +optional
	ageKey *dagger.Secret,
	// REPOSITORY_URL=MIRROR: fetch that chart repository's charts from MIRROR, a URL or
	// a folder of the repository given as a path relative to its root (repeatable).
	// +optional
	chartMirror []string,
	// The umbrella chart's folder, relative to the repository root.
	// +default="hub"
	chart string,
	// Accept unencrypted files whose name says secret (repositories protected by
	// git-crypt).
	// +optional
	allowUnencryptedSecrets bool,
	// Extra values files, paths relative to the repository root, applied after the
	// repository's own (may be sops-encrypted).
	// +optional
	values []string,
	// Values to set, as key.path=value.
	// +optional
	set []string,
	// String values to set, as key.path=value.
	// +optional
	setString []string,
	// The repository's .git folder, which images with tag_strategy: git-commit need
	// for their tags (repo leaves it out): e.g. --git-dir=.git.
	// +optional
	gitDir *dagger.Directory,
) *Hubploy {
	return &Hubploy{
		Repo: repo, GitDir: gitDir, AgeKey: ageKey, ChartMirrors: chartMirror, ChartDir: chart,
		AllowUnencryptedSecrets: allowUnencryptedSecrets, ValueFiles: values, Set: set, SetString: setString,
	}
}

var (
	exportMu sync.Mutex
	exported = map[string]string{} // directory IDs' digest → folder
)

// config exports the repository into this module's container (once per content) and
// makes the application layer's configuration from the constructor's arguments.
func (m *Hubploy) config(ctx context.Context) (*action.Config, error) {
	dir, err := exportRepo(ctx, m.Repo, m.GitDir)
	if err != nil {
		return nil, err
	}
	s := action.Settings{
		RepoDir: dir, ChartDir: m.ChartDir, ChartMirrors: m.ChartMirrors,
		AllowUnencryptedSecrets: m.AllowUnencryptedSecrets,
		ValueFiles:              m.ValueFiles, Set: m.Set, SetString: m.SetString,
		// Paths are the repository's: the module sees nothing else.
		PathBase: dir, ConfineToRepo: true,
		Log: func(format string, args ...any) { fmt.Fprintf(os.Stderr, "hubploy: "+format+"\n", args...) },
	}
	if s.Clouds, s.Credentials, err = m.credentials(ctx); err != nil {
		return nil, err
	}
	if m.AgeKey != nil {
		key, err := m.AgeKey.Plaintext(ctx)
		if err != nil {
			return nil, err
		}
		s.AgeKeys = []string{key}
	}
	return action.New(s)
}

// exportRepo writes the repository (and its .git folder, if given) into this
// container, once per content: the container may serve several calls.
func exportRepo(ctx context.Context, repo, git *dagger.Directory) (string, error) {
	h := sha256.New()
	for _, d := range []*dagger.Directory{repo, git} {
		if d == nil {
			continue
		}
		id, err := d.ID(ctx)
		if err != nil {
			return "", err
		}
		h.Write([]byte(id + "\x00")) // a hash.Hash's Write never fails
	}
	key := hex.EncodeToString(h.Sum(nil)[:8])
	exportMu.Lock()
	defer exportMu.Unlock()
	if dir, ok := exported[key]; ok {
		return dir, nil
	}
	dir := filepath.Join(os.TempDir(), "repo-"+key)
	if _, err := repo.Export(ctx, dir); err != nil {
		return "", err
	}
	if git != nil {
		if _, err := git.Export(ctx, filepath.Join(dir, ".git")); err != nil {
			return "", err
		}
	}
	exported[key] = dir
	return dir, nil
}

// Check every hub in every environment, as the CLI's validate: returns the report.
//
// For every hub (or the ones named) and environment (or the one given): hubploy.yaml,
// values layering and decryption, the cluster access and image folders a deploy and a
// build would use, the chart's values schema, helm's linter and a full render. Fails,
// with the report, if any problem was found.
func (m *Hubploy) Validate(
	ctx context.Context,
	// Hubs to check (default: every hub).
	// +optional
	hub []string,
	// The one environment to check (default: every environment of each hub).
	// +optional
	env string,
	// Make a chart whose dependencies no Chart.lock pins a problem (for CI), rather
	// than a note.
	// +optional
	strict bool,
) (string, error) {
	cfg, err := m.config(ctx)
	if err != nil {
		return "", err
	}
	rep, err := (&action.Validate{Config: cfg, Hubs: hub, Env: env, Strict: strict}).Run(ctx)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, res := range rep.Results {
		if err := res.WriteText(&b); err != nil {
			return "", err
		}
	}
	b.WriteString(validate.Summary(rep.Results) + "\n")
	if !rep.OK {
		return "", fmt.Errorf("%d hub environment(s) failed validation:\n%s", rep.Failed, b.String())
	}
	return b.String(), nil
}

// The umbrella chart's lock file (Chart.lock; requirements.lock for an apiVersion v1
// chart), pinning its dependencies as `helm dependency update` would: the newest
// version each constraint allows, from the repository or its mirror. The same bytes
// helm writes but the generated time; the current lock when its digest is unchanged.
// Export it into the repository and commit it.
func (m *Hubploy) Lock(ctx context.Context) (*dagger.File, error) {
	cfg, err := m.config(ctx)
	if err != nil {
		return nil, err
	}
	res, err := (&action.Lock{Config: cfg, NoWrite: true}).Run(ctx)
	if err != nil {
		return nil, err
	}
	if res.File == "" {
		return nil, fmt.Errorf("%s has no dependencies: there is nothing to lock", res.Chart)
	}
	name := path.Base(res.File)
	return dag.Directory().WithNewFile(name, string(res.Content)).File(name), nil
}

// Render a hub's manifests for an environment, secrets masked, as a Directory.
//
// The manifests a deploy would apply: one file per template of the chart, at the
// template's path, as `helm template --output-dir` writes them.
func (m *Hubploy) Render(
	ctx context.Context,
	// The hub: a folder of deployments/.
	hub string,
	// The environment: one of the hub's config/<env>.yaml.
	env string,
) (*dagger.Directory, error) {
	cfg, err := m.config(ctx)
	if err != nil {
		return nil, err
	}
	res, err := (&action.Render{Config: cfg, Hub: hub, Env: env}).Run(ctx)
	if err != nil {
		return nil, err
	}
	out := dag.Directory()
	for name, content := range res.Files() {
		out = out.WithNewFile(name, content)
	}
	return out, nil
}

// Decrypt a sops-encrypted file of the repository, in memory, into a Secret.
//
// The cleartext is never returned as a file or a string: pass the Secret on to what
// needs it.
func (m *Hubploy) Decrypt(
	ctx context.Context,
	// The file, relative to the repository root (e.g.
	// deployments/datahub/secrets/prod.yaml).
	file string,
) (*dagger.Secret, error) {
	cfg, err := m.config(ctx)
	if err != nil {
		return nil, err
	}
	data, err := (&action.Decrypt{Config: cfg, File: file}).Run()
	if err != nil {
		return nil, err
	}
	// The name only has to be stable for the same file and content.
	sum := sha256.Sum256(append([]byte(file+"\x00"), data...))
	return dag.SetSecret("hubploy-decrypt-"+hex.EncodeToString(sum[:8]), string(data)), nil
}

// clusterArgs are how the functions on live releases reach the cluster.
type clusterArgs struct {
	kubeconfig    *dagger.Secret
	kubeContext   string
	namespace     string
	apiServer     *dagger.Service
	apiServerName string
}

// WithCluster sets how the functions on live releases (deploy, diff, status, history,
// rollback) reach the cluster, instead of what hubploy.yaml says.
func (m *Hubploy) WithCluster(
	// A kubeconfig (may be sops-encrypted) to use instead of the one hubploy.yaml
	// names; hubploy.yaml's context template still applies.
	// +optional
	kubeconfig *dagger.Secret,
	// The kubeconfig context to use (overrides cluster.kubeconfig.context).
	// +optional
	kubeContext string,
	// The release's namespace (one hub only; default: hubploy.yaml's, or <hub>-<env>).
	// +optional
	namespace string,
	// The cluster's API server as a service, for a cluster that only the host reaches
	// (e.g. tcp://localhost:6443): reached as https://<apiServerName>:<port>.
	// +optional
	apiServer *dagger.Service,
	// The host name under which apiServer is reached; the API server's certificate
	// must carry it.
	// +default="kube-apiserver"
	apiServerName string,
) *Hubploy {
	m.Kubeconfig, m.KubeContext, m.Namespace, m.APIServer, m.APIServerName = kubeconfig, kubeContext, namespace, apiServer, apiServerName
	return m
}

// cluster is WithCluster's settings, each replaced by the function's own argument
// where one is given.
func (m *Hubploy) cluster(own clusterArgs) clusterArgs {
	ca := clusterArgs{m.Kubeconfig, m.KubeContext, m.Namespace, m.APIServer, m.APIServerName}
	if own.kubeconfig != nil {
		ca.kubeconfig = own.kubeconfig
	}
	if own.kubeContext != "" {
		ca.kubeContext = own.kubeContext
	}
	if own.namespace != "" {
		ca.namespace = own.namespace
	}
	if own.apiServer != nil {
		ca.apiServer, ca.apiServerName = own.apiServer, own.apiServerName
	}
	if ca.apiServerName == "" {
		ca.apiServerName = "kube-apiserver"
	}
	return ca
}

// options turns the arguments into the application layer's, starting the tunnel to
// the API server if one is given; stop ends it.
func (ca clusterArgs) options(ctx context.Context) (opts action.ClusterOptions, stop func(), err error) {
	opts = action.ClusterOptions{Context: ca.kubeContext, Namespace: ca.namespace}
	stop = func() {}
	if ca.kubeconfig != nil {
		data, err := ca.kubeconfig.Plaintext(ctx)
		if err != nil {
			return opts, stop, err
		}
		opts.Kubeconfig = []byte(data)
	}
	if ca.apiServer == nil {
		return opts, stop, nil
	}
	address, stop, err := startTunnel(ctx, ca.apiServer, ca.apiServerName, "apiServer")
	if err != nil {
		return opts, stop, err
	}
	opts.Server = "https://" + address
	return opts, stop, nil
}

// startTunnel starts svc under the host name name and returns name:port and what
// ends it; arg names the function's argument in errors.
func startTunnel(ctx context.Context, svc *dagger.Service, name, arg string) (address string, stop func(), err error) {
	stop = func() {}
	ports, err := svc.Ports(ctx)
	if err != nil {
		return "", stop, err
	}
	if len(ports) == 0 {
		return "", stop, &inputerr.Error{Key: arg, Msg: "the service exposes no port", Hint: "pass it as tcp://HOST:PORT"}
	}
	port, err := ports[0].Port(ctx)
	if err != nil {
		return "", stop, err
	}
	started, err := svc.WithHostname(name).Start(ctx)
	if err != nil {
		return "", stop, fmt.Errorf("starting the tunnel to %s: %w", arg, err)
	}
	return name + ":" + strconv.Itoa(port), func() {
		if _, err := started.Stop(context.WithoutCancel(ctx)); err != nil {
			// The engine ends the tunnel with the call anyway; say so, and go on.
			fmt.Fprintf(os.Stderr, "hubploy: stopping the tunnel to %s: %v\n", arg, err)
		}
	}, nil
}

// WithCheck sets how the health check (check, and deploy with check) reaches the hubs
// and how patient it is, instead of what hubploy.yaml says.
func (m *Hubploy) WithCheck(
	// The hub's address with its base URL (default: hubploy.yaml's deploy.check.url, or
	// the host of the release's Ingress; with hub, http://<hubName>:<port>/).
	// +optional
	url string,
	// The API token of the hub's check service (default: its apiToken in the hub's
	// secrets, or in the hub's Secret in the cluster).
	// +optional
	token *dagger.Secret,
	// The hub as a service, for a hub that only the host reaches (e.g.
	// tcp://localhost:8000): reached as http://<hubName>:<port>/.
	// +optional
	hub *dagger.Service,
	// The host name under which hub is reached.
	// +default="jupyterhub"
	hubName string,
	// The user whose server the check starts and deletes (default: deploy.check.user,
	// or hubploy-check).
	// +optional
	user string,
	// How many times the check runs before it fails.
	// +default=3
	attempts int,
	// How long each request of the check may take.
	// +default="30s"
	timeout string,
	// How long the check user's server may take to start.
	// +default="5m"
	startTimeout string,
	// How long one attempt may take, its cleanup aside (default: its steps' own bounds).
	// +optional
	attemptTimeout string,
) *Hubploy {
	m.CheckURL, m.CheckToken, m.CheckHub, m.CheckHubName = url, token, hub, hubName
	m.CheckUser, m.CheckAttempts, m.CheckTimeout, m.CheckStartTimeout, m.CheckAttemptTimeout = user, attempts, timeout, startTimeout, attemptTimeout
	return m
}

// checkOptions turns WithCheck's settings into the application layer's, starting the
// tunnel to the hub if one is given; stop ends it.
func (m *Hubploy) checkOptions(ctx context.Context) (opts action.CheckOptions, stop func(), err error) {
	opts = action.CheckOptions{URL: m.CheckURL, User: m.CheckUser, Attempts: m.CheckAttempts}
	stop = func() {}
	for _, d := range []struct {
		arg, value string
		to         *time.Duration
	}{{"timeout", m.CheckTimeout, &opts.Timeout}, {"startTimeout", m.CheckStartTimeout, &opts.StartTimeout}, {"attemptTimeout", m.CheckAttemptTimeout, &opts.AttemptTimeout}} {
		if d.value == "" {
			continue
		}
		if *d.to, err = deploy.ParseTimeout(d.value); err != nil {
			return opts, stop, fmt.Errorf("withCheck %s: %w", d.arg, err)
		}
	}
	if m.CheckToken != nil {
		if opts.Token, err = m.CheckToken.Plaintext(ctx); err != nil {
			return opts, stop, err
		}
	}
	if m.CheckHub == nil {
		return opts, stop, nil
	}
	address, stop, err := startTunnel(ctx, m.CheckHub, cmp.Or(m.CheckHubName, "jupyterhub"), "hub")
	if err != nil {
		return opts, stop, err
	}
	if opts.URL == "" {
		opts.URL = "http://" + address + "/"
	}
	return opts, stop, nil
}

// Check that a deployed hub works, as the CLI's check: returns each step and a line.
//
// Through the JupyterHub REST API, as the hub's check service: the hub answers, takes
// the token, starts the check user's server, which answers through the proxy; then the
// server is stopped and the user deleted. WithCheck says where the hub is and how
// patient to be; the cluster (for a token kept in the hub's Secret) is hubploy.yaml's,
// or the one WithCluster sets. Fails, with the steps, if the check fails.
//
// +cache="never"
func (m *Hubploy) Check(
	ctx context.Context,
	// The hub.
	hub string,
	// The environment.
	env string,
) (string, error) {
	c := &action.Check{Hub: hub, Env: env}
	var stop func()
	var err error
	if c.Options, stop, err = m.checkOptions(ctx); err != nil {
		return "", err
	}
	defer stop()
	res, err := withCluster(ctx, m, &c.Config, clusterArgs{}, &c.Cluster, c.Run)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := action.WriteCheck(&b, res); err != nil {
		return "", err
	}
	if !res.OK() {
		return "", fmt.Errorf("%s\n%s", res.Error, b.String())
	}
	return b.String(), nil
}

// Deploy one hub or many to an environment, as the CLI's deploy: returns the summary.
//
// helm upgrade --install of each hub's release <hub>-<env> with the layered values
// (secrets decrypted in memory), then a wait until every resource is ready. Unchanged
// releases are left alone. Many hubs deploy in parallel, at most concurrency per
// cluster; a hub that fails (to prepare or to deploy) does not stop the others. Fails,
// with the summary, if any hub failed.
//
// It changes or reads live state, so Dagger never caches its result.
//
// +cache="never"
func (m *Hubploy) Deploy(
	ctx context.Context,
	// The environment to deploy.
	env string,
	// The hubs to deploy (one or more); or pass all.
	// +optional
	hub []string,
	// Deploy every hub that has the environment.
	// +optional
	all bool,
	// A kubeconfig (may be sops-encrypted) to use instead of the one hubploy.yaml names;
	// hubploy.yaml's context template still applies.
	// +optional
	kubeconfig *dagger.Secret,
	// The kubeconfig context to use (overrides cluster.kubeconfig.context).
	// +optional
	kubeContext string,
	// The namespace to deploy into (one hub only; default: hubploy.yaml's, or <hub>-<env>).
	// +optional
	namespace string,
	// The cluster's API server as a service, for a cluster that only the host reaches
	// (e.g. tcp://localhost:6443): reached as https://<apiServerName>:<port>.
	// +optional
	apiServer *dagger.Service,
	// The host name under which apiServer is reached; the API server's certificate
	// must carry it.
	// +default="kube-apiserver"
	apiServerName string,
	// How long to wait for the resources to be ready (30m, 90s, or seconds).
	// +default="10m"
	timeout string,
	// Deploy even if nothing changed; replace resources that cannot be patched.
	// +optional
	force bool,
	// On failure or timeout, roll back to the last deployed revision.
	// +optional
	atomic bool,
	// Delete the resources a failed upgrade created.
	// +optional
	cleanupOnFail bool,
	// Render against the cluster and return the manifests (secrets masked); change nothing.
	// +optional
	dryRun bool,
	// Roll back a release left pending by a killed run, then deploy.
	// +optional
	recover bool,
	// Hubs deployed at once on one cluster.
	// +default=4
	concurrency int,
	// Refuse to deploy unless the umbrella chart has this version.
	// +optional
	chartVersion string,
	// Deploy without first checking that the registries have the image tags the
	// release sets (for registries the engine cannot reach).
	// +optional
	skipImageCheck bool,
	// After each hub's deploy, check that it works, as check does (WithCheck says how).
	// +optional
	check bool,
	// With check: roll a hub whose check failed back to the revision live before.
	// +optional
	rollbackOnFailure bool,
	// Hubs to deploy and check first; the others deploy only if these pass
	// (hubploy.yaml's deploy.canary adds hubs).
	// +optional
	canary []string,
	// Deploy the hubs this plan (plan --format=json) lists for the environment, instead of
	// naming them.
	// +optional
	plan *dagger.File,
) (string, error) {
	d := &action.Deploy{
		Targets:      action.Targets{Env: env, Hubs: hub, All: all},
		Upgrade:      deploy.Upgrade{Force: force, Atomic: atomic, CleanupOnFail: cleanupOnFail, DryRun: dryRun, Recover: recover},
		ChartVersion: chartVersion, PerCluster: concurrency, Progress: deploy.PrintProgress(os.Stderr),
		SkipImageCheck: skipImageCheck, Check: check, RollbackOnFailure: rollbackOnFailure, Canaries: canary,
	}
	var err error
	if d.Upgrade.Timeout, err = deploy.ParseTimeout(timeout); err != nil {
		return "", err
	}
	if plan != nil {
		if d.Plan, err = readPlan(ctx, plan); err != nil {
			return "", err
		}
	}
	var stop func()
	if d.CheckOptions, stop, err = m.checkOptions(ctx); err != nil {
		return "", err
	}
	defer stop()
	rep, err := withCluster(ctx, m, &d.Config, clusterArgs{kubeconfig, kubeContext, namespace, apiServer, apiServerName}, &d.Cluster, d.Run)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, res := range rep.Results {
		b.WriteString(res.Manifest)
	}
	if err := deploy.WriteSummary(&b, rep.Results); err != nil {
		return "", err
	}
	if err := rep.Err(); err != nil {
		return "", fmt.Errorf("%w\n%s", err, b.String())
	}
	return b.String(), nil
}

// readPlan reads a plan that plan --format=json (or hubploy plan -o json) wrote.
func readPlan(ctx context.Context, f *dagger.File) (*planpkg.Plan, error) {
	name, err := f.Name(ctx)
	if err != nil {
		return nil, err
	}
	data, err := f.Contents(ctx)
	if err != nil {
		return nil, err
	}
	return planpkg.Parse([]byte(data), name)
}

// What a change deploys: which hubs in which environments, and which images must be
// built first, each with the changed files that make it so, as the CLI's plan.
//
// The change is what head changed since its merge base with base, read from git (pass
// the repository's .git with the constructor's gitDir), or a list of changed files.
func (m *Hubploy) Plan(
	ctx context.Context,
	// The git revision the change is compared with: a pull request's target branch, or
	// a push's previous commit.
	// +optional
	base string,
	// The revision whose changes are planned (default: HEAD).
	// +optional
	head string,
	// The changed files, one a line, relative to the repository's root, instead of base.
	// +optional
	changedFiles *dagger.File,
	// Plan one environment only.
	// +optional
	env string,
	// text; markdown, for a pull request's comment or $GITHUB_STEP_SUMMARY; or json,
	// which deploy --plan reads.
	// +default="text"
	format string,
	// Build exactly the images whose registry lacks the tag their folder makes (asks
	// the registries, with hubploy.yaml's credentials).
	// +optional
	checkRegistry bool,
) (string, error) {
	if format != "text" && format != "markdown" && format != "json" {
		return "", &inputerr.Error{Key: "format", Msg: fmt.Sprintf("is %q", format), Hint: "text, markdown or json"}
	}
	cfg, err := m.config(ctx)
	if err != nil {
		return "", err
	}
	p := &action.Plan{Config: cfg, Base: base, Head: head, Env: env, CheckRegistry: checkRegistry}
	if changedFiles != nil {
		data, err := changedFiles.Contents(ctx)
		if err != nil {
			return "", err
		}
		if p.ChangedFiles, err = planpkg.ReadFileList(strings.NewReader(data), "changedFiles"); err != nil {
			return "", err
		}
	}
	res, err := p.Run(ctx)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	switch format {
	case "json":
		enc := json.NewEncoder(&b)
		enc.SetIndent("", "  ")
		err = enc.Encode(res)
	case "markdown":
		err = res.WriteMarkdown(&b)
	default:
		err = res.WriteText(&b)
	}
	return b.String(), err
}

// Check the rule of the staging → prod flow, as the CLI's verify-branches: the prod
// branch holds only commits that are on the staging branch, plus merge commits.
// Fails, listing the commits that break it. Needs the repository's .git (the
// constructor's gitDir).
func (m *Hubploy) VerifyBranches(
	ctx context.Context,
	// The staging branch.
	// +default="staging"
	staging string,
	// The prod branch.
	// +default="prod"
	prod string,
) (string, error) {
	cfg, err := m.config(ctx)
	if err != nil {
		return "", err
	}
	res, err := (&action.VerifyBranches{Config: cfg, Staging: staging, Prod: prod}).Run(ctx)
	if err != nil {
		return "", err
	}
	if !res.OK {
		return "", errors.New(res.Text())
	}
	return res.Text(), nil
}

// Show what a deploy would change in the live release, object by object.
//
// A unified diff per object (secrets masked), then a summary line.
//
// It changes or reads live state, so Dagger never caches its result.
//
// +cache="never"
func (m *Hubploy) Diff(
	ctx context.Context,
	// The hub.
	hub string,
	// The environment.
	env string,
	// A kubeconfig (may be sops-encrypted) to use instead of the one hubploy.yaml names.
	// +optional
	kubeconfig *dagger.Secret,
	// The kubeconfig context to use.
	// +optional
	kubeContext string,
	// The namespace of the release (default: hubploy.yaml's, or <hub>-<env>).
	// +optional
	namespace string,
	// The cluster's API server as a service, for a cluster that only the host reaches.
	// +optional
	apiServer *dagger.Service,
	// The host name under which apiServer is reached; the certificate must carry it.
	// +default="kube-apiserver"
	apiServerName string,
) (string, error) {
	d := &action.Diff{Hub: hub, Env: env}
	res, err := withCluster(ctx, m, &d.Config, clusterArgs{kubeconfig, kubeContext, namespace, apiServer, apiServerName}, &d.Cluster, d.Run)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%s: %d object(s) would change (live revision %d)\n", res.Text, res.Release, res.Changed, res.Live), nil
}

// withCluster sets a job's configuration and cluster options, runs it, and ends the
// tunnel to the API server, if one was started.
func withCluster[T any](ctx context.Context, m *Hubploy, cfg **action.Config, own clusterArgs, opts *action.ClusterOptions, run func(context.Context) (T, error)) (T, error) {
	var zero T
	var err error
	if *cfg, err = m.config(ctx); err != nil {
		return zero, err
	}
	var stop func()
	if *opts, stop, err = m.cluster(own).options(ctx); err != nil {
		return zero, err
	}
	defer stop()
	return run(ctx)
}

// Say, a line each, where a hub's credentials come from, which cluster they reach and
// as whom, and which registries of its images they can read, as the CLI's doctor:
// without deploying or showing a secret. Fails, with the lines, if one failed.
//
// The cluster is hubploy.yaml's, or the one WithCluster sets; the credentials are
// hubploy.yaml's and the ones the With*Credentials functions give.
//
// +cache="never"
func (m *Hubploy) Doctor(
	ctx context.Context,
	// The hub.
	hub string,
	// The environment.
	env string,
) (string, error) {
	d := &action.Doctor{Hub: hub, Env: env}
	res, err := withCluster(ctx, m, &d.Config, clusterArgs{}, &d.Cluster, d.Run)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	if err := action.WriteDoctor(&b, res); err != nil {
		return "", err
	}
	if !res.OK {
		return "", fmt.Errorf("doctor found a problem:\n%s", b.String())
	}
	return b.String(), nil
}

// Show a hub's live release and the readiness of each of its resources.
//
// The cluster is hubploy.yaml's, or the one WithCluster sets.
//
// +cache="never"
func (m *Hubploy) Status(
	ctx context.Context,
	// The hub.
	hub string,
	// The environment.
	env string,
) (string, error) {
	s := &action.Status{Hub: hub, Env: env}
	st, err := withCluster(ctx, m, &s.Config, clusterArgs{}, &s.Cluster, s.Run)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = action.WriteStatus(&b, st)
	return b.String(), err
}

// List the revisions of a hub's release, oldest first: status, chart, when.
//
// The cluster is hubploy.yaml's, or the one WithCluster sets.
//
// +cache="never"
func (m *Hubploy) History(
	ctx context.Context,
	// The hub.
	hub string,
	// The environment.
	env string,
) (string, error) {
	h := &action.History{Hub: hub, Env: env}
	revs, err := withCluster(ctx, m, &h.Config, clusterArgs{}, &h.Cluster, h.Run)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = action.WriteHistory(&b, revs)
	return b.String(), err
}

// Roll a hub's release back to a revision (default: the previous one) and wait until
// it is ready. Returns the revision it is now at. The cluster is hubploy.yaml's, or
// the one WithCluster sets.
//
// +cache="never"
func (m *Hubploy) Rollback(
	ctx context.Context,
	// The hub.
	hub string,
	// The environment.
	env string,
	// The revision to roll back to (default: the one before the current).
	// +optional
	revision int,
	// How long to wait for the resources to be ready (30m, 90s, or seconds).
	// +default="10m"
	timeout string,
) (string, error) {
	if revision < 0 {
		return "", &inputerr.Error{Key: "revision", Msg: fmt.Sprintf("must be a positive number, not %d", revision)}
	}
	rb := &action.Rollback{Hub: hub, Env: env, Revision: revision, Progress: func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "hubploy: %s/%s: "+format+"\n", append([]any{hub, env}, args...)...)
	}}
	var err error
	if rb.Timeout, err = deploy.ParseTimeout(timeout); err != nil {
		return "", err
	}
	res, err := withCluster(ctx, m, &rb.Config, clusterArgs{}, &rb.Cluster, rb.Run)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("rolled back %s: now at revision %d\n", res.Release, res.Revision), nil
}
