// Continuous deployment of JupyterHubs on Kubernetes, as a Dagger module.
//
// The same jobs as the hubploy CLI, on a deployment repository handed over as a
// Directory and credentials handed over as Secrets: validate, render, decrypt,
// deploy, diff, and build and publish a hub's user image. The work is done by
// hubploy's Go packages (pipeline/); this module only converts Dagger's types.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"dagger/hubploy/internal/dagger"

	"github.com/hubploy/hubploy/pipeline/charts"
	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/deploy"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
	"github.com/hubploy/hubploy/pipeline/validate"
	"github.com/hubploy/hubploy/pipeline/values"
)

// Hubploy renders, checks and deploys the JupyterHubs of one deployment repository.
type Hubploy struct {
	// +private
	Repo *dagger.Directory
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
) *Hubploy {
	return &Hubploy{
		Repo: repo, AgeKey: ageKey, ChartMirrors: chartMirror, ChartDir: chart,
		AllowUnencryptedSecrets: allowUnencryptedSecrets, ValueFiles: values, Set: set, SetString: setString,
	}
}

// workspace is the repository exported into this module's container, with what
// the pipeline needs to read it.
type workspace struct {
	repo *repo.Repo
	dec  *secrets.Decrypter
	opts release.Options
}

var (
	exportMu sync.Mutex
	exported = map[string]string{} // directory ID digest → folder
)

// open exports the repository (once per call of the module) and builds the options
// every job shares.
func (m *Hubploy) open(ctx context.Context) (*workspace, error) {
	dir, err := exportDir(ctx, m.Repo, "repo")
	if err != nil {
		return nil, err
	}
	r, err := repo.Open(dir)
	if err != nil {
		return nil, err
	}
	dec := &secrets.Decrypter{AllowUnencrypted: m.AllowUnencryptedSecrets}
	if m.AgeKey != nil {
		key, err := m.AgeKey.Plaintext(ctx)
		if err != nil {
			return nil, err
		}
		dec.AgeIdentities = []string{key}
	}
	mirrors, err := charts.ParseMirrors(m.ChartMirrors)
	if err != nil {
		return nil, err
	}
	for from, to := range mirrors {
		// A folder mirror is a folder of the repository: the module sees nothing else.
		if !strings.Contains(to, "://") && !filepath.IsAbs(to) {
			mirrors[from] = filepath.Join(dir, to)
		}
	}
	var valueFiles []string
	for _, f := range m.ValueFiles {
		valueFiles = append(valueFiles, filepath.Join(dir, f))
	}
	return &workspace{repo: r, dec: dec, opts: release.Options{
		ChartDir:  m.ChartDir,
		Decrypter: dec,
		Charts: &charts.Loader{Mirrors: mirrors, Progress: func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "hubploy: "+format+"\n", args...)
		}},
		Values: values.Options{ValueFiles: valueFiles, Set: m.Set, SetString: m.SetString},
	}}, nil
}

// exportDir writes a Directory into this container, once per content.
func exportDir(ctx context.Context, d *dagger.Directory, prefix string) (string, error) {
	id, err := d.ID(ctx)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(id))
	key := hex.EncodeToString(sum[:8])
	exportMu.Lock()
	defer exportMu.Unlock()
	if dir, ok := exported[key]; ok {
		return dir, nil
	}
	dir := filepath.Join(os.TempDir(), prefix+"-"+key)
	if _, err := d.Export(ctx, dir); err != nil {
		return "", err
	}
	exported[key] = dir
	return dir, nil
}

// Check every hub in every environment, as the CLI's validate: returns the report.
//
// For every hub (or the ones named) and environment (or the one given): hubploy.yaml,
// values layering and decryption, the chart's values schema, helm's linter and a full
// render. Fails, with the report, if any problem was found.
func (m *Hubploy) Validate(
	ctx context.Context,
	// Hubs to check (default: every hub).
	// +optional
	hub []string,
	// The one environment to check (default: every environment of each hub).
	// +optional
	env string,
) (string, error) {
	ws, err := m.open(ctx)
	if err != nil {
		return "", err
	}
	known, err := ws.repo.HubNames()
	if err != nil {
		return "", err
	}
	for _, name := range hub {
		if !contains(known, name) {
			_, err := ws.repo.Hub(name)
			return "", err
		}
	}
	results, err := (&validate.Validate{Repo: ws.repo, Hubs: hub, Env: env, Release: ws.opts}).Run(ctx)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	failed := 0
	for _, res := range results {
		name, status := res.Hub, "ok  "
		if res.Env != "" {
			name += "/" + res.Env
		}
		if !res.OK() {
			status = "FAIL"
			failed++
		}
		fmt.Fprintf(&b, "%s %s (%.2fs)\n", status, name, res.Duration.Seconds())
		for _, p := range res.Problems {
			fmt.Fprintf(&b, "     error: %s\n", p)
		}
		for _, w := range res.Warnings {
			fmt.Fprintf(&b, "     warning: %s\n", w)
		}
	}
	fmt.Fprintf(&b, "validated %d hub environment(s): %d ok, %d failed\n", len(results), len(results)-failed, failed)
	if failed > 0 {
		return "", fmt.Errorf("%d hub environment(s) failed validation:\n%s", failed, b.String())
	}
	return b.String(), nil
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
	ws, err := m.open(ctx)
	if err != nil {
		return nil, err
	}
	rel, err := ws.prepare(ctx, hub, env, "")
	if err != nil {
		return nil, err
	}
	manifest, err := rel.Render(ctx)
	if err != nil {
		return nil, err
	}
	out := dag.Directory()
	for name, content := range splitBySource(rel.Masker.Manifest(manifest)) {
		out = out.WithNewFile(name, content)
	}
	return out, nil
}

// splitBySource files the documents of a rendered manifest under the template each
// came from ("# Source: chart/templates/x.yaml").
func splitBySource(manifest string) map[string]string {
	files := map[string]string{}
	for _, doc := range strings.Split(manifest, "\n---") {
		doc = strings.TrimPrefix(strings.TrimLeft(doc, "\n"), "---\n")
		if strings.TrimSpace(doc) == "" {
			continue
		}
		name := "manifest.yaml"
		for _, line := range strings.SplitN(doc, "\n", 3) {
			if s, ok := strings.CutPrefix(line, "# Source: "); ok {
				name = path.Clean(strings.TrimSpace(s))
				break
			}
		}
		if strings.HasPrefix(name, "../") || strings.HasPrefix(name, "/") {
			name = "manifest.yaml"
		}
		files[name] += "---\n" + strings.TrimRight(doc, "\n") + "\n"
	}
	return files
}

func (ws *workspace) prepare(ctx context.Context, hub, env, namespace string) (*release.Release, error) {
	h, err := ws.repo.Hub(hub)
	if err != nil {
		return nil, err
	}
	opts := ws.opts
	opts.Namespace = namespace
	return release.Prepare(ctx, h, env, opts)
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
	ws, err := m.open(ctx)
	if err != nil {
		return nil, err
	}
	p := filepath.Join(ws.repo.Root, filepath.FromSlash(file))
	if rel, err := filepath.Rel(ws.repo.Root, p); err != nil || strings.HasPrefix(rel, "..") {
		return nil, &inputerr.Error{File: file, Msg: "is outside the repository", Hint: "name a file of the repository, relative to its root"}
	}
	data, _, err := ws.dec.ReadFile(p, file)
	if err != nil {
		return nil, err
	}
	// The name only has to be stable for the same file and content.
	sum := sha256.Sum256(append([]byte(file+"\x00"), data...))
	return dag.SetSecret("hubploy-decrypt-"+hex.EncodeToString(sum[:8]), string(data)), nil
}

// clusterArgs are how deploy and diff reach the cluster.
type clusterArgs struct {
	kubeconfig    *dagger.Secret
	kubeContext   string
	apiServer     *dagger.Service
	apiServerName string
}

// access builds a hub's cluster access, starting the API server tunnel if one is
// given; stop ends the tunnel.
func (ca clusterArgs) access(ctx context.Context, ws *workspace, h *repo.Hub, namespace string) (*cluster.Access, func(), error) {
	opts := cluster.Options{Context: ca.kubeContext}
	if ca.kubeconfig != nil {
		data, err := ca.kubeconfig.Plaintext(ctx)
		if err != nil {
			return nil, nil, err
		}
		opts.Kubeconfig = []byte(data)
		if secrets.IsEncrypted(opts.Kubeconfig) {
			if opts.Kubeconfig, err = ws.dec.Decrypt("the kubeconfig secret", opts.Kubeconfig); err != nil {
				return nil, nil, err
			}
		}
	}
	stop := func() {}
	if ca.apiServer != nil {
		name := ca.apiServerName
		if name == "" {
			name = "kube-apiserver"
		}
		ports, err := ca.apiServer.Ports(ctx)
		if err != nil {
			return nil, nil, err
		}
		if len(ports) == 0 {
			return nil, nil, &inputerr.Error{Msg: "the API server service exposes no port", Hint: "pass it as tcp://HOST:PORT"}
		}
		port, err := ports[0].Port(ctx)
		if err != nil {
			return nil, nil, err
		}
		svc, err := ca.apiServer.WithHostname(name).Start(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("starting the tunnel to the API server: %w", err)
		}
		stop = func() { svc.Stop(context.WithoutCancel(ctx)) }
		opts.Server = "https://" + name + ":" + strconv.Itoa(port)
	}
	a, err := cluster.ForHub(h, namespace, ws.dec, opts)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return a, stop, nil
}

// Deploy one hub or many to an environment, as the CLI's deploy: returns the summary.
//
// helm upgrade --install of each hub's release <hub>-<env> with the layered values
// (secrets decrypted in memory), then a wait until every resource is ready. Unchanged
// releases are left alone. Many hubs deploy in parallel, at most concurrency per
// cluster. Fails if any hub failed.
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
	// A kubeconfig (may be sops-encrypted) to use instead of the one hubploy.yaml names.
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
) (string, error) {
	d := deploy.Deploy{Force: force, Atomic: atomic, CleanupOnFail: cleanupOnFail, DryRun: dryRun, Recover: recover}
	var err error
	if d.Timeout, err = deploy.ParseTimeout(timeout); err != nil {
		return "", err
	}
	ws, err := m.open(ctx)
	if err != nil {
		return "", err
	}
	if all == (len(hub) > 0) {
		return "", &inputerr.Error{Msg: "name the hubs to deploy, or pass all (not both)"}
	}
	hubs := hub
	if all {
		if hubs, err = ws.repo.HubsWithEnv(env); err != nil {
			return "", err
		}
	}
	if namespace != "" && len(hubs) > 1 {
		return "", &inputerr.Error{Msg: "namespace applies to one hub only"}
	}
	ca := clusterArgs{kubeconfig, kubeContext, apiServer, apiServerName}
	var jobs []deploy.Job
	for _, name := range hubs {
		rel, err := ws.prepare(ctx, name, env, namespace)
		if err != nil {
			return "", err
		}
		if err := rel.CheckChartVersion(chartVersion); err != nil {
			return "", err
		}
		access, stop, err := ca.access(ctx, ws, rel.Hub, rel.Namespace)
		if err != nil {
			return "", err
		}
		defer stop()
		jobs = append(jobs, deploy.Job{Release: rel, Access: access})
	}
	many := &deploy.Many{Options: d, PerCluster: concurrency, Progress: deploy.PrintProgress(os.Stderr)}
	results := many.Run(ctx, jobs)
	var b strings.Builder
	for _, res := range results {
		b.WriteString(res.Manifest)
	}
	if err := deploy.WriteSummary(&b, results); err != nil {
		return "", err
	}
	var failures []string
	for _, r := range results {
		if r.Error != "" {
			failures = append(failures, r.Error)
		}
	}
	if len(failures) > 0 {
		return "", fmt.Errorf("%d of %d deploy(s) failed: %s\n%s", len(failures), len(results), strings.Join(failures, "; "), b.String())
	}
	return b.String(), nil
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
	ws, err := m.open(ctx)
	if err != nil {
		return "", err
	}
	rel, err := ws.prepare(ctx, hub, env, namespace)
	if err != nil {
		return "", err
	}
	access, stop, err := clusterArgs{kubeconfig, kubeContext, apiServer, apiServerName}.access(ctx, ws, rel.Hub, rel.Namespace)
	if err != nil {
		return "", err
	}
	defer stop()
	res, err := (&deploy.Diff{Access: access}).Run(ctx, rel)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%s: %d object(s) would change (live revision %d)\n", res.Text, res.Release, res.Changed, res.Live), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
