package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"time"

	"helm.sh/helm/v3/pkg/action"
	helmrelease "helm.sh/helm/v3/pkg/release"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/release"
)

// Upgrade is `helm upgrade --install` of one hub's release. Options are as hubploy's and
// helm's.
type Upgrade struct {
	Access        *cluster.Access
	Timeout       time.Duration
	Atomic        bool // roll back to the last deployed revision on failure or timeout
	CleanupOnFail bool
	Force         bool // deploy even when nothing changed; replace resources helm cannot patch
	DryRun        bool
	Recover       bool // roll back a release left pending by a killed run, then go on
	// Progress receives progress lines; nil drops them.
	Progress func(format string, args ...any)
	// validators is shared by the upgrades of one Many.Run: hubs on one API server
	// fetch and parse its schemas once.
	validators *validators
}

// Run deploys rel. The error, "<release>: " and one masked line, is also in the result.
func (u *Upgrade) Run(ctx context.Context, rel *release.Release) (res *Result, err error) {
	began := time.Now()
	res = &Result{Hub: rel.Hub.Name, Env: rel.Env, Release: rel.Name, Namespace: rel.Namespace}
	defer func() {
		res.Duration = time.Since(began)
		if err != nil {
			err = fmt.Errorf("%s: %w", rel.Name, rel.Masker.Error(err))
			res.Outcome, res.Error = Failed, err.Error()
		}
	}()
	progress := orDiscard(u.Progress)
	progress("connecting to %s", u.Access.Server)
	s, err := newSession(ctx, u.Access, rel.Namespace, progress, u.validators)
	if err != nil {
		return res, err
	}
	checked, same, err := u.unchangedBeforeLocking(ctx, s, rel)
	if err != nil {
		return res, err
	}
	if same {
		res.Outcome, res.Revision = Unchanged, checked
		progress("%s: revision %d matches what would be deployed", res.Outcome, checked)
		return res, nil
	}
	if !u.DryRun {
		if err := ensureNamespace(ctx, s.client, rel.Namespace); err != nil {
			return res, err
		}
		var lk *lock
		// Not :=, which would declare an err of this block that the deferred explain
		// below would see in place of Run's own.
		if lk, err = s.lock(ctx, rel.Namespace, rel.Name, u.Recover, progress); err != nil {
			return res, err
		}
		defer lk.release()
		// Losing the lease cancels the work: say so, rather than what the cancel broke,
		// unless the wait had failed on its own before.
		defer func() { err = lk.explain(s.waiter.cause(err)) }()
		ctx = lk.ctx
	}
	from, err := u.startFrom(s, rel.Name, progress)
	if err != nil {
		return res, err
	}
	// Only a deployed last revision is known to be what is live: after a failed one,
	// always upgrade. One found changed before locking needs no second look.
	if from.live && !u.Force && !u.DryRun && !(from.base.Version == checked && !from.rolledBack) {
		same, err := unchanged(ctx, s, rel, from.base)
		if err != nil {
			return res, err
		}
		if same {
			res.Outcome, res.Revision = Unchanged, from.base.Version
			if from.rolledBack {
				res.Outcome = Deployed // the rollback changed the cluster
			}
			progress("%s: revision %d matches what would be deployed", res.Outcome, from.base.Version)
			return res, nil
		}
	}
	out, err := u.apply(ctx, s, rel, from.base, progress)
	if err != nil {
		if u.Atomic {
			res.Revision = currentRevision(s, rel.Name)
		}
		if !u.DryRun { // helm wrote its error, which can quote a value, into the revision
			err = errors.Join(err, maskDescriptions(s, rel.Name, rel.Masker))
		}
		return res, err
	}
	res.Revision = out.Version
	if u.DryRun {
		res.Outcome, res.Manifest = DryRun, rel.Masker.Manifest(manifestWithHooks(out))
		return res, nil
	}
	res.Outcome = Deployed
	if from.base != nil {
		res.Previous = from.base.Version
	}
	progress("deployed revision %d in %.1fs", out.Version, time.Since(began).Seconds())
	return res, nil
}

// unchangedBeforeLocking looks, reading only, whether the deployed revision is what rel
// would deploy: in a deploy of many hubs most are unchanged, and need neither their
// namespace checked nor a lease taken. It returns the revision it compared with (0 when
// none: the release is in any other state, or the deploy is forced, a dry run or a
// recovery), which the locked path then handles.
func (u *Upgrade) unchangedBeforeLocking(ctx context.Context, s *session, rel *release.Release) (revision int, same bool, err error) {
	if u.Force || u.DryRun || u.Recover {
		return 0, false, nil
	}
	hist, err := s.history(rel.Name)
	if err != nil {
		return 0, false, err
	}
	p, err := planFor(hist, false, false)
	if err != nil || p.step != upgradeLive {
		return 0, false, nil // the locked path says what stops it
	}
	same, err = unchanged(ctx, s, rel, p.good)
	return p.good.Version, same, err
}

// start is where a deploy begins.
type start struct {
	base       *helmrelease.Release // the revision to upgrade from; nil: install
	live       bool                 // base is known to be what the cluster holds
	rolledBack bool                 // getting there took a rollback
}

// startFrom carries out planFor over the release's history.
func (u *Upgrade) startFrom(s *session, name string, progress func(string, ...any)) (start, error) {
	hist, err := s.history(name)
	if err != nil {
		return start{}, err
	}
	p, err := planFor(hist, u.Recover, u.DryRun)
	if err != nil {
		return start{}, err
	}
	switch p.step {
	case upgradeLive:
		return start{base: p.good, live: true}, nil
	case dryRunFromGood:
		return start{base: p.good}, nil
	case reinstall:
		return start{}, removeRecord(s, p.last, progress)
	case rollBackFirst:
		return rollBackToGood(s, p, u.Timeout, progress)
	default: // freshInstall
		return start{}, nil
	}
}

// removeRecord uninstalls a release none of whose revisions ever deployed, so that it
// installs afresh.
func removeRecord(s *session, last *helmrelease.Release, progress func(string, ...any)) error {
	progress("revision %d is %s and no revision ever deployed; removing the release record to install afresh", last.Version, last.Info.Status)
	un := action.NewUninstall(s.cfg)
	un.Timeout = time.Minute
	if _, err := un.Run(last.Name); err != nil {
		return fmt.Errorf("removing the record of %s: %w", last.Name, err)
	}
	return nil
}

// rollBackToGood rolls the release back to p.good, marking a pending last revision
// failed first, and returns the rollback's revision to upgrade from.
func rollBackToGood(s *session, p plan, timeout time.Duration, progress func(string, ...any)) (start, error) {
	name := p.last.Name
	progress("revision %d is %s; rolling back to revision %d first, so the upgrade starts from a known state", p.last.Version, p.last.Info.Status, p.good.Version)
	if p.markFailed {
		p.last.SetStatus(helmrelease.StatusFailed, "hubploy --recover: the deploy that wrote this revision was stopped")
		if err := s.cfg.Releases.Update(p.last); err != nil {
			return start{}, fmt.Errorf("recovering %s: %w", name, err)
		}
	}
	if err := s.rollback(name, p.good.Version, timeout); err != nil {
		return start{}, fmt.Errorf("rolling %s back to revision %d: %w", name, p.good.Version, err)
	}
	cur, err := action.NewGet(s.cfg).Run(name)
	if err != nil {
		return start{}, err
	}
	return start{base: cur, live: true, rolledBack: true}, nil
}

// apply installs rel when there is no revision to start from, else upgrades from base.
func (u *Upgrade) apply(ctx context.Context, s *session, rel *release.Release, base *helmrelease.Release, progress func(string, ...any)) (*helmrelease.Release, error) {
	timeout := waitTimeout(u.Timeout)
	if base == nil {
		progress("installing")
		in := action.NewInstall(s.cfg)
		in.ReleaseName, in.Namespace = rel.Name, rel.Namespace
		in.Replace = true // reuse the name of a release whose every revision failed
		in.Wait, in.WaitForJobs, in.Timeout = true, true, timeout
		in.Atomic, in.DryRun = u.Atomic, u.DryRun
		if u.DryRun {
			in.DryRunOption = "server"
		}
		return in.RunWithContext(ctx, rel.Chart, rel.Values.Values)
	}
	progress("upgrading from revision %d", base.Version)
	up := action.NewUpgrade(s.cfg)
	up.Namespace = rel.Namespace
	up.Wait, up.WaitForJobs, up.Timeout = true, true, timeout
	up.Atomic, up.CleanupOnFail, up.Force, up.DryRun = u.Atomic, u.CleanupOnFail, u.Force, u.DryRun
	if u.DryRun {
		up.DryRunOption = "server"
	}
	up.MaxHistory = 10
	return up.RunWithContext(ctx, rel.Name, rel.Chart, rel.Values.Values)
}

// currentRevision is the release's revision after an atomic deploy failed and rolled
// back, for the result; 0 when it cannot be read, which is safe to show since the
// deploy's own error is what the result reports.
func currentRevision(s *session, name string) int {
	cur, err := action.NewGet(s.cfg).Run(name)
	if err != nil {
		return 0
	}
	return cur.Version
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

// sameValues compares values as helm stores them (JSON), so 1 and 1.0 are equal. Values
// that JSON cannot encode compare as different: the deploy then goes ahead, which is
// always safe.
func sameValues(a, b map[string]any) bool {
	na, errA := asStored(a)
	nb, errB := asStored(b)
	return errA == nil && errB == nil && reflect.DeepEqual(na, nb)
}

func asStored(m map[string]any) (any, error) {
	if len(m) == 0 {
		return map[string]any{}, nil // nil and empty are the same values
	}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(data, &out)
	return out, err
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
