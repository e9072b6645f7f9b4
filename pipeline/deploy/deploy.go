// Package deploy changes a live cluster: `helm upgrade --install` of a hub's release
// through the helm SDK in process, with a kstatus wait, a lock against concurrent
// deploys, recovery of releases left pending, and no new revision when nothing changed.
// Status, history, rollback and diff of a release live here too.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/kube"
	helmrelease "helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/kubectl/pkg/validation"

	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/release"
)

// waitTimeout is t, or DefaultTimeout when t is unset.
func waitTimeout(t time.Duration) time.Duration {
	if t == 0 {
		return DefaultTimeout
	}
	return t
}

// orDiscard is progress, or a function that drops the lines when progress is nil.
func orDiscard(progress func(string, ...any)) func(string, ...any) {
	if progress == nil {
		return func(string, ...any) {}
	}
	return progress
}

// session is helm's configuration for one release, with hubploy's waiter.
type session struct {
	cfg    *action.Configuration
	client kubernetes.Interface
	waiter *statusWaiter
}

// newSession connects to the cluster; ctx bounds the waits until lock rebinds them.
// Validators come from shared, or from the session's own cache when it is nil.
func newSession(ctx context.Context, access *cluster.Access, namespace string, progress func(string, ...any), shared *validators) (*session, error) {
	cfg := new(action.Configuration)
	if err := cfg.Init(access.Getter, namespace, "secret", orDiscard(access.HelmLog)); err != nil {
		return nil, err
	}
	base, ok := cfg.KubeClient.(*kube.Client)
	if !ok {
		return nil, fmt.Errorf("unexpected helm kube client %T", cfg.KubeClient)
	}
	if shared == nil || access.Identity == "" {
		shared = &validators{}
	}
	base.Factory = memoFactory{Factory: base.Factory, identity: access.Identity, validators: shared}
	objects, err := base.Factory.DynamicClient()
	if err != nil {
		return nil, err
	}
	waiter := &statusWaiter{Client: base, ctx: ctx, progress: orDiscard(progress), objects: objects, pace: defaultPace}
	cfg.KubeClient = waiter
	if err := base.IsReachable(); err != nil {
		return nil, fmt.Errorf("cannot reach the cluster at %s (access from %s): %v; check the cluster block of hubploy.yaml, the kubeconfig and the network", access.Server, access.Source, unwrapAll(err))
	}
	records, err := releaseRecords(access, namespace, cfg.Log)
	if err != nil {
		return nil, err
	}
	cfg.Releases = records
	client, err := cfg.KubernetesClientSet()
	if err != nil {
		return nil, err
	}
	return &session{cfg: cfg, client: client, waiter: waiter}, nil
}

// validators memoizes helm's manifest validators by API server identity and directive.
// helm makes a validator for every Build, and each fetches and parses the OpenAPI
// schema of every group-version it checks: the CPU of a deploy, times every hub.
type validators struct {
	mu sync.Mutex
	m  map[[2]string]validation.Schema
}

// memoFactory is helm's factory with its validators taken from validators.
type memoFactory struct {
	kube.Factory
	identity   string
	validators *validators
}

func (f memoFactory) Validator(directive string) (validation.Schema, error) {
	v := f.validators
	v.mu.Lock()
	defer v.mu.Unlock()
	key := [2]string{f.identity, directive}
	if s, ok := v.m[key]; ok {
		return s, nil
	}
	s, err := f.Factory.Validator(directive) // cheap: the schemas are fetched when first used, once
	if err != nil {
		return nil, err
	}
	if v.m == nil {
		v.m = map[[2]string]validation.Schema{}
	}
	v.m[key] = s
	return s, nil
}

// recordTimeout bounds each request for a release record. A healthy API server takes
// well under a second for one.
const recordTimeout = 10 * time.Second

// releaseRecords is helm's release storage (Secrets in namespace), logging to log as
// helm's own would, with each request bounded by recordTimeout.
func releaseRecords(access *cluster.Access, namespace string, log action.DebugLog) (*storage.Storage, error) {
	rc, err := access.Getter.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	d := driver.NewSecrets(boundSecrets{client.CoreV1().Secrets(namespace)})
	d.Log = log
	return storage.Init(d), nil
}

// boundSecrets gives each request of helm's release storage a deadline. helm makes them
// without one, so a cluster that stops answering would hold hubploy past its --timeout
// for as long as the API server waits on etcd, for each record helm writes after a
// failed wait. A deadline of the context, unlike rest.Config's Timeout, is not also sent
// to the API server, whose answer would race the client's own and make client-go log.
type boundSecrets struct {
	corev1client.SecretInterface
}

func (b boundSecrets) Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Secret, error) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	return b.SecretInterface.Get(ctx, name, opts)
}

func (b boundSecrets) List(ctx context.Context, opts metav1.ListOptions) (*corev1.SecretList, error) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	return b.SecretInterface.List(ctx, opts)
}

func (b boundSecrets) Create(ctx context.Context, secret *corev1.Secret, opts metav1.CreateOptions) (*corev1.Secret, error) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	return b.SecretInterface.Create(ctx, secret, opts)
}

func (b boundSecrets) Update(ctx context.Context, secret *corev1.Secret, opts metav1.UpdateOptions) (*corev1.Secret, error) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	return b.SecretInterface.Update(ctx, secret, opts)
}

func (b boundSecrets) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	return b.SecretInterface.Delete(ctx, name, opts)
}

func unwrapAll(err error) error {
	for errors.Unwrap(err) != nil {
		err = errors.Unwrap(err)
	}
	return err
}

// lock takes the release's deploy lock and makes the session's waits stop when the lock
// is lost; helm's other calls take the lock's context from the caller.
func (s *session) lock(ctx context.Context, namespace, release string, waitStale bool, progress func(string, ...any)) (*lock, error) {
	lk, err := acquireLock(ctx, s.client, namespace, release, waitStale, progress)
	if err != nil {
		return nil, err
	}
	s.waiter.ctx = lk.ctx
	return lk, nil
}

// history is the release's revisions, in no particular order; none when it was never
// installed.
func (s *session) history(name string) ([]*helmrelease.Release, error) {
	hist, err := action.NewHistory(s.cfg).Run(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil
	}
	return hist, err
}

// rollback rolls name back to revision (0: the one before the last) and waits for it.
func (s *session) rollback(name string, revision int, timeout time.Duration) error {
	rb := action.NewRollback(s.cfg)
	rb.Version, rb.Wait, rb.Timeout = revision, true, waitTimeout(timeout)
	return rb.Run(name)
}

// dryRunUpgrade renders the upgrade of rel against the cluster (lookups see live
// objects) and changes nothing.
func (s *session) dryRunUpgrade(ctx context.Context, rel *release.Release) (*helmrelease.Release, error) {
	up := action.NewUpgrade(s.cfg)
	up.Namespace = rel.Namespace
	up.DryRun, up.DryRunOption = true, "server"
	// Only the rendered manifest is wanted, and the real upgrade validates it: checking
	// it against the server's OpenAPI schema here was most of a no-op's CPU time (each
	// group-version's schema fetched and parsed, for every hub).
	up.DisableOpenAPIValidation = true
	return up.RunWithContext(ctx, rel.Name, rel.Chart, rel.Values.Values)
}

// notDeployedError says that a release has no record in a namespace. It is
// driver.ErrReleaseNotFound to errors.Is.
type notDeployedError struct{ release, namespace string }

func (e *notDeployedError) Error() string {
	return fmt.Sprintf("release %s was never deployed in namespace %s: check the hub, the environment and the namespace", e.release, e.namespace)
}

func (e *notDeployedError) Unwrap() error { return driver.ErrReleaseNotFound }

// releaseError says what failed, doing what to which release; a release that helm has no
// record of is a notDeployedError.
func releaseError(err error, doing, release, namespace string) error {
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return &notDeployedError{release: release, namespace: namespace}
	}
	return fmt.Errorf("%s release %s in namespace %s: %w", doing, release, namespace, err)
}

func manifestWithHooks(r *helmrelease.Release) string {
	m := r.Manifest
	for _, h := range r.Hooks {
		m += "\n---\n# Source: " + h.Path + "\n" + h.Manifest
	}
	return m
}

// chartName is "name-version", as helm lists charts.
func chartName(r *helmrelease.Release) string {
	if r.Chart == nil || r.Chart.Metadata == nil {
		return ""
	}
	return r.Chart.Metadata.Name + "-" + r.Chart.Metadata.Version
}
