// Package deploy changes a live cluster: `helm upgrade --install` of a hub's release
// through the helm SDK in process, with a kstatus wait, a lock against concurrent
// deploys, recovery of releases left pending, and no new revision when nothing changed.
// Status, rollback and diff of a release live here too.
package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/kube"
	helmrelease "helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/release"
)

// Outcomes of a deploy.
const (
	Deployed  = "deployed"
	Unchanged = "unchanged"
	DryRun    = "dry-run"
	Failed    = "failed"
)

// DefaultTimeout is how long a deploy waits for its resources to be ready.
const DefaultTimeout = 10 * time.Minute

// ParseTimeout reads a timeout as hubploy 0.3's --timeout took it (and helm 2's): a
// duration (30m, 90s) or a bare number of seconds.
func ParseTimeout(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, &inputerr.Error{Key: "timeout", Msg: fmt.Sprintf("%q is neither a duration (30m, 90s) nor a number of seconds", s)}
	}
	return d, nil
}

// waitTimeout is t, or DefaultTimeout when t is unset.
func waitTimeout(t time.Duration) time.Duration {
	if t == 0 {
		return DefaultTimeout
	}
	return t
}

// Deploy upgrades (or installs) one hub's release. Options are as hubploy's and helm's.
type Deploy struct {
	Access        *cluster.Access
	Timeout       time.Duration
	Atomic        bool // roll back to the last deployed revision on failure or timeout
	CleanupOnFail bool
	Force         bool // deploy even when nothing changed; replace resources helm cannot patch
	DryRun        bool
	Recover       bool // roll back a release left pending by a killed run, then go on
	// Progress receives progress lines; nil drops them.
	Progress func(format string, args ...any)
	// PollInterval is how often the wait looks at the resources; zero means 2 s.
	PollInterval time.Duration
}

// Result is what one deploy did.
type Result struct {
	Hub       string        `json:"hub"`
	Env       string        `json:"env"`
	Release   string        `json:"release"`
	Namespace string        `json:"namespace"`
	Outcome   string        `json:"result"`
	Revision  int           `json:"revision,omitempty"`
	Duration  time.Duration `json:"duration_ns"`
	Error     string        `json:"error,omitempty"`
	// Manifest is the masked manifest of a dry run.
	Manifest string `json:"manifest,omitempty"`
}

func (d *Deploy) progress(format string, args ...any) {
	if d.Progress != nil {
		d.Progress(format, args...)
	}
}

// session is helm's configuration for one release, with hubploy's waiter.
type session struct {
	cfg    *action.Configuration
	client kubernetes.Interface
}

func newSession(ctx context.Context, access *cluster.Access, namespace string, progress func(string, ...any), interval time.Duration) (*session, error) {
	cfg := new(action.Configuration)
	if err := cfg.Init(access.Getter, namespace, "secret", func(string, ...any) {}); err != nil {
		return nil, err
	}
	base, ok := cfg.KubeClient.(*kube.Client)
	if !ok {
		return nil, fmt.Errorf("unexpected helm kube client %T", cfg.KubeClient)
	}
	if interval == 0 {
		interval = 2 * time.Second
	}
	cfg.KubeClient = &statusWaiter{Client: base, ctx: ctx, progress: progress, interval: interval}
	if err := base.IsReachable(); err != nil {
		return nil, fmt.Errorf("cannot reach the cluster at %s (kubeconfig %s): %v; check the cluster block of hubploy.yaml, the kubeconfig and the network", access.Server, access.Source, unwrapAll(err))
	}
	client, err := cfg.KubernetesClientSet()
	if err != nil {
		return nil, err
	}
	return &session{cfg: cfg, client: client}, nil
}

func unwrapAll(err error) error {
	for errors.Unwrap(err) != nil {
		err = errors.Unwrap(err)
	}
	return err
}

// Run deploys rel. The error is also recorded in the result.
func (d *Deploy) Run(ctx context.Context, rel *release.Release) (res *Result, err error) {
	start := time.Now()
	res = &Result{Hub: rel.Hub.Name, Env: rel.Env, Release: rel.Name, Namespace: rel.Namespace, Outcome: Failed}
	defer func() {
		res.Duration = time.Since(start)
		if err != nil {
			// helm's messages span lines ("1 error occurred:\n\t* ..."): one line, masked.
			err = fmt.Errorf("%s: %s", rel.Name, strings.Join(strings.Fields(rel.Masker.String(err.Error())), " "))
			res.Error = err.Error()
		}
	}()
	d.progress("connecting to %s", d.Access.Server)
	s, err := newSession(ctx, d.Access, rel.Namespace, d.progress, d.PollInterval)
	if err != nil {
		return res, err
	}
	if !d.DryRun {
		if err := ensureNamespace(ctx, s.client, rel.Namespace); err != nil {
			return res, err
		}
		lk, err := acquireLock(ctx, s.client, rel.Namespace, rel.Name, d.Recover, d.progress)
		if err != nil {
			return res, err
		}
		defer lk.release()
	}
	from, err := d.startingPoint(ctx, s, rel.Name)
	if err != nil {
		return res, err
	}
	deployed := from.base
	timeout := waitTimeout(d.Timeout)
	var out *helmrelease.Release
	if deployed == nil {
		d.progress("installing")
		in := action.NewInstall(s.cfg)
		in.ReleaseName, in.Namespace = rel.Name, rel.Namespace
		in.Replace = true // reuse the name of a release whose every revision failed
		in.Wait, in.WaitForJobs, in.Timeout = true, true, timeout
		in.Atomic, in.DryRun = d.Atomic, d.DryRun
		if d.DryRun {
			in.DryRunOption = "server"
		}
		out, err = in.RunWithContext(ctx, rel.Chart, rel.Values.Values)
	} else {
		up := d.upgrade(s, rel, timeout)
		// Only a deployed last revision is known to be what is live: after a failed one,
		// always upgrade.
		if from.live && !d.Force && !d.DryRun {
			same, err := unchanged(ctx, s, rel, deployed)
			if err != nil {
				return res, err
			}
			if same {
				res.Outcome, res.Revision = Unchanged, deployed.Version
				if from.rolledBack {
					res.Outcome = Deployed // the rollback changed the cluster
				}
				d.progress("%s: revision %d matches what would be deployed", res.Outcome, deployed.Version)
				return res, nil
			}
		}
		d.progress("upgrading from revision %d", deployed.Version)
		out, err = up.RunWithContext(ctx, rel.Name, rel.Chart, rel.Values.Values)
	}
	if err != nil {
		if d.Atomic {
			if cur, herr := action.NewGet(s.cfg).Run(rel.Name); herr == nil {
				res.Revision = cur.Version
			}
		}
		return res, err
	}
	res.Revision = out.Version
	if d.DryRun {
		res.Outcome, res.Manifest = DryRun, rel.Masker.Manifest(manifestWithHooks(out))
		return res, nil
	}
	res.Outcome = Deployed
	d.progress("deployed revision %d in %.1fs", out.Version, time.Since(start).Seconds())
	return res, nil
}

func (d *Deploy) upgrade(s *session, rel *release.Release, timeout time.Duration) *action.Upgrade {
	up := action.NewUpgrade(s.cfg)
	up.Namespace = rel.Namespace
	up.Wait, up.WaitForJobs, up.Timeout = true, true, timeout
	up.Atomic, up.CleanupOnFail, up.Force, up.DryRun = d.Atomic, d.CleanupOnFail, d.Force, d.DryRun
	if d.DryRun {
		up.DryRunOption = "server"
	}
	up.MaxHistory = 10
	return up
}

// unchanged reports whether deploying rel would give the same manifests and values as
// the deployed revision.
func unchanged(ctx context.Context, s *session, rel *release.Release, deployed *helmrelease.Release) (bool, error) {
	next, err := s.dryRunUpgrade(ctx, rel)
	if err != nil {
		return false, err
	}
	return manifestWithHooks(next) == manifestWithHooks(deployed) && sameValues(next.Config, deployed.Config), nil
}

// dryRunUpgrade renders the upgrade of rel against the cluster (lookups see live
// objects) and changes nothing.
func (s *session) dryRunUpgrade(ctx context.Context, rel *release.Release) (*helmrelease.Release, error) {
	up := action.NewUpgrade(s.cfg)
	up.Namespace = rel.Namespace
	up.DryRun, up.DryRunOption = true, "server"
	return up.RunWithContext(ctx, rel.Name, rel.Chart, rel.Values.Values)
}

func manifestWithHooks(r *helmrelease.Release) string {
	m := r.Manifest
	for _, h := range r.Hooks {
		m += "\n---\n# Source: " + h.Path + "\n" + h.Manifest
	}
	return m
}

// sameValues compares values as stored (JSON), so 1 and 1.0 are equal.
func sameValues(a, b map[string]any) bool {
	norm := func(m map[string]any) any {
		data, _ := json.Marshal(m)
		var out any
		json.Unmarshal(data, &out)
		if out == nil {
			out = map[string]any{}
		}
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

// start is where a deploy begins.
type start struct {
	base       *helmrelease.Release // the revision to upgrade from; nil: install
	live       bool                 // base is known to be what the cluster holds
	rolledBack bool                 // getting there took a rollback
}

// startingPoint finds the revision to upgrade from. A release whose last revision is pending was left so by a
// run that died (the lock shows no one is deploying it now): with Recover it is rolled
// back to its last good revision, otherwise the deploy stops and says what to do. A
// release whose last revision failed is rolled back to its last good revision first:
// helm's three-way merge would otherwise keep what the failed revision changed in
// objects whose template the new revision shares with the good one.
func (d *Deploy) startingPoint(ctx context.Context, s *session, name string) (start, error) {
	hist, err := action.NewHistory(s.cfg).Run(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return start{}, nil
	}
	if err != nil {
		return start{}, err
	}
	var last, good *helmrelease.Release
	for _, r := range hist {
		if last == nil || r.Version > last.Version {
			last = r
		}
		if (r.Info.Status == helmrelease.StatusDeployed || r.Info.Status == helmrelease.StatusSuperseded) && (good == nil || r.Version > good.Version) {
			good = r
		}
	}
	switch {
	case last == good:
		return start{base: good, live: true}, nil
	case last.Info.Status.IsPending() && !d.Recover:
		goodRev := "none"
		if good != nil {
			goodRev = fmt.Sprint(good.Version)
		}
		return start{}, fmt.Errorf("release %s is stuck in %s at revision %d: a previous deploy was stopped before it finished. Run again with --recover to roll back to the last good revision (%s) and deploy", name, last.Info.Status, last.Version, goodRev)
	case d.DryRun:
		return start{base: good}, nil // a dry run changes nothing, not even to recover
	case good == nil:
		d.progress("revision %d is %s and no revision ever deployed; removing the release record to install afresh", last.Version, last.Info.Status)
		un := action.NewUninstall(s.cfg)
		un.Timeout = time.Minute
		if _, err := un.Run(name); err != nil {
			return start{}, fmt.Errorf("removing the record of %s: %w", name, err)
		}
		return start{}, nil
	}
	d.progress("revision %d is %s; rolling back to revision %d first, so the upgrade starts from a known state", last.Version, last.Info.Status, good.Version)
	if last.Info.Status.IsPending() {
		// The pending record blocks helm's rollback: mark it failed, as helm would have.
		last.SetStatus(helmrelease.StatusFailed, "hubploy --recover: the deploy that wrote this revision was stopped")
		if err := s.cfg.Releases.Update(last); err != nil {
			return start{}, fmt.Errorf("recovering %s: %w", name, err)
		}
	}
	rb := action.NewRollback(s.cfg)
	rb.Version, rb.Wait, rb.Timeout = good.Version, true, waitTimeout(d.Timeout)
	if err := rb.Run(name); err != nil {
		return start{}, fmt.Errorf("rolling %s back to revision %d: %w", name, good.Version, err)
	}
	cur, err := action.NewGet(s.cfg).Run(name)
	return start{base: cur, live: err == nil, rolledBack: true}, err
}

func ensureNamespace(ctx context.Context, client kubernetes.Interface, ns string) error {
	_, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	}
	if err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	return nil
}
