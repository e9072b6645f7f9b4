// An example of a module that uses hubploy's: a deployment repository's own
// pipeline that checks every hub, previews one hub's manifests, and ships (checks,
// then deploys) an environment.
//
// In a deployment repository, `dagger init --sdk=go --license=` then
// `dagger install github.com/hubploy/hubploy@<version>` gives the same dag.Hubploy.
package main

import (
	"context"
	"fmt"

	"dagger/deployer/internal/dagger"
)

type Deployer struct{}

// Validate every hub of the repository, then render one hub's environment.
//
// Returns hubploy's validation report and the number of manifest files rendered.
func (m *Deployer) Preview(
	ctx context.Context,
	// The deployment repository.
	repo *dagger.Directory,
	// The age key that decrypts the repository's secrets.
	ageKey *dagger.Secret,
	// The hub to render.
	hub string,
	// The environment to render.
	env string,
	// Chart repository mirrors, REPOSITORY_URL=MIRROR (a URL, or a folder of the repository).
	// +optional
	chartMirror []string,
) (string, error) {
	hubploy := dag.Hubploy(dagger.HubployOpts{Repo: repo, AgeKey: ageKey, ChartMirror: chartMirror})
	report, err := hubploy.Validate(ctx)
	if err != nil {
		return "", err
	}
	files, err := hubploy.Render(hub, env).Glob(ctx, "**/*.yaml")
	if err != nil {
		return "", err
	}
	return report + fmt.Sprintf("%s/%s renders %d file(s)\n", hub, env, len(files)), nil
}

// Validate every hub, then deploy hubs to an environment; returns the deploy summary.
//
// +cache="never"
func (m *Deployer) Ship(
	ctx context.Context,
	// The deployment repository.
	repo *dagger.Directory,
	// The age key that decrypts the repository's secrets.
	ageKey *dagger.Secret,
	// The environment to deploy.
	env string,
	// The hubs to deploy.
	hub []string,
	// The kubeconfig to deploy with (default: each hub's, from hubploy.yaml).
	// +optional
	kubeconfig *dagger.Secret,
	// The kubeconfig context (default: hubploy.yaml's context template, or the
	// kubeconfig's current context).
	// +optional
	kubeContext string,
	// The cluster's API server as a service, for a cluster only the host reaches.
	// +optional
	apiServer *dagger.Service,
	// The namespace to deploy into (one hub only).
	// +optional
	namespace string,
	// Chart repository mirrors, REPOSITORY_URL=MIRROR.
	// +optional
	chartMirror []string,
) (string, error) {
	hubploy := dag.Hubploy(dagger.HubployOpts{Repo: repo, AgeKey: ageKey, ChartMirror: chartMirror})
	if _, err := hubploy.Validate(ctx, dagger.HubployValidateOpts{Hub: hub, Env: env}); err != nil {
		return "", err
	}
	return hubploy.
		WithCluster(dagger.HubployWithClusterOpts{Kubeconfig: kubeconfig, KubeContext: kubeContext, APIServer: apiServer, Namespace: namespace}).
		Deploy(ctx, env, dagger.HubployDeployOpts{Hub: hub, Timeout: "120s"})
}
