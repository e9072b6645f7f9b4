// Continuous deployment of JupyterHubs on Kubernetes, as a Dagger module.
//
// The same jobs as the hubploy CLI, on a deployment repository handed over as a
// Directory and credentials handed over as Secrets: validate, render, decrypt,
// deploy, diff, status, history, rollback, and build and publish a hub's user
// images. Each function runs the hubploy CLI of this module's release in a container
// of its image (see hubployImage), which does the work with the same application
// layer (pipeline/action) as the CLI on a laptop: the module compiles only its own
// thin Go, and hands its Secrets to the container as secret mounts.
package main

import (
	"context"

	"dagger/hubploy/internal/dagger"
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
	// +private
	Image string
	// +private
	Source *dagger.Directory
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
	// The hubploy image the functions run in (default: this module's release,
	// ghcr.io/hubploy/hubploy:<version>).
	// +optional
	hubployImage string,
	// hubploy's source, built into the image when hubployImage cannot be pulled.
	// +defaultPath="/"
	// +ignore=["*", "!go.mod", "!go.sum", "!cmd/hubploy/**", "!pipeline/**", "**/*_test.go", "**/testdata"]
	source *dagger.Directory,
) *Hubploy {
	return &Hubploy{
		Repo: repo, GitDir: gitDir, AgeKey: ageKey, ChartMirrors: chartMirror, ChartDir: chart,
		AllowUnencryptedSecrets: allowUnencryptedSecrets, ValueFiles: values, Set: set, SetString: setString,
		Image: hubployImage, Source: source,
	}
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
	return m.call("validate", map[string]any{"hub": hub, "env": env, "strict": strict}).text(ctx)
}

// The umbrella chart's lock file (Chart.lock; requirements.lock for an apiVersion v1
// chart), pinning its dependencies as `helm dependency update` would: the newest
// version each constraint allows, from the repository or its mirror. The same bytes
// helm writes but the generated time; the current lock when its digest is unchanged.
// Export it into the repository and commit it.
func (m *Hubploy) Lock(ctx context.Context) (*dagger.File, error) {
	c := m.call("lock", nil)
	name, out, err := c.run(ctx)
	if err != nil {
		return nil, err
	}
	return out.File(name), nil
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
	_, out, err := m.call("render", map[string]any{"hub": hub, "env": env}).run(ctx)
	return out, err
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
	return m.call("decrypt", map[string]any{"file": file}).sealedSecret(ctx, file)
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
	return m.call("check", map[string]any{"hub": hub, "env": env}).withCluster(ctx, clusterArgs{}).withCheck(ctx).text(ctx)
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
	c := m.call("deploy", map[string]any{"env": env, "hub": hub, "all": all, "timeout": timeout, "force": force,
		"atomic": atomic, "cleanupOnFail": cleanupOnFail, "dryRun": dryRun, "recover": recover, "concurrency": concurrency,
		"chartVersion": chartVersion, "skipImageCheck": skipImageCheck, "check": check, "rollbackOnFailure": rollbackOnFailure,
		"canary": canary})
	if plan != nil {
		name, err := plan.Name(ctx)
		if err != nil {
			return "", err
		}
		c.req.Args["planName"] = name
		c.file("plan", plan)
	}
	return c.withCluster(ctx, clusterArgs{kubeconfig, kubeContext, namespace, apiServer, apiServerName}).withCheck(ctx).text(ctx)
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
	c := m.call("plan", map[string]any{"base": base, "head": head, "env": env, "format": format, "checkRegistry": checkRegistry})
	c.file("changedFiles", changedFiles)
	return c.text(ctx)
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
	return m.call("verifyBranches", map[string]any{"staging": staging, "prod": prod}).text(ctx)
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
	return m.call("diff", map[string]any{"hub": hub, "env": env}).withCluster(ctx, clusterArgs{kubeconfig, kubeContext, namespace, apiServer, apiServerName}).text(ctx)
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
	return m.call("doctor", map[string]any{"hub": hub, "env": env}).withCluster(ctx, clusterArgs{}).text(ctx)
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
	return m.call("status", map[string]any{"hub": hub, "env": env}).withCluster(ctx, clusterArgs{}).text(ctx)
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
	return m.call("history", map[string]any{"hub": hub, "env": env}).withCluster(ctx, clusterArgs{}).text(ctx)
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
	return m.call("rollback", map[string]any{"hub": hub, "env": env, "revision": revision, "timeout": timeout}).withCluster(ctx, clusterArgs{}).text(ctx)
}
