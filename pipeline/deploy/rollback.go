package deploy

import (
	"context"
	"time"

	"helm.sh/helm/v3/pkg/action"

	"github.com/hubploy/hubploy/pipeline/cluster"
)

// Rollback rolls a release back to a revision (0: the one before the current), under the
// release's deploy lock.
type Rollback struct {
	Access  *cluster.Access
	Timeout time.Duration
	// Progress receives progress lines; nil drops them.
	Progress func(format string, args ...any)
}

// Run rolls back and returns the new revision.
func (rb *Rollback) Run(ctx context.Context, name, namespace string, revision int) (rev int, err error) {
	progress := orDiscard(rb.Progress)
	s, err := newSession(ctx, rb.Access, namespace, progress, nil)
	if err != nil {
		return 0, err
	}
	lk, err := s.lock(ctx, namespace, name, false, progress)
	if err != nil {
		return 0, err
	}
	defer lk.release()
	// Losing the lease cancels the wait: say so, rather than what the cancel broke,
	// unless the wait had failed on its own before.
	defer func() { err = lk.explain(s.waiter.cause(err)) }()
	if err := s.rollback(name, revision, rb.Timeout); err != nil {
		return 0, releaseError(err, "rolling back", name, namespace)
	}
	cur, err := action.NewGet(s.cfg).Run(name)
	if err != nil {
		return 0, err
	}
	return cur.Version, nil
}
