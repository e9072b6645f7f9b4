package action

import (
	"context"
	"time"

	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/deploy"
)

// Diff shows what a deploy of one hub would change in its live release.
type Diff struct {
	*Config
	Hub, Env string
	Cluster  ClusterOptions
}

// Run renders the release against the cluster and diffs it with the live revision.
func (d *Diff) Run(ctx context.Context) (*deploy.DiffResult, error) {
	rel, err := d.prepare(ctx, d.Hub, d.Env, d.Cluster.Namespace)
	if err != nil {
		return nil, err
	}
	access, err := d.access(rel.Hub, rel.Namespace, d.Cluster, rel.Masker)
	if err != nil {
		return nil, err
	}
	return (&deploy.Diff{Access: access}).Run(ctx, rel)
}

// liveRelease is a hub's release in an environment, named without reading its values
// (status, history and rollback need no secrets but the kubeconfig's).
type liveRelease struct {
	name, namespace string
	access          *cluster.Access
}

func (c *Config) liveRelease(hub, env string, co ClusterOptions) (*liveRelease, error) {
	h, err := c.hub(hub)
	if err != nil {
		return nil, err
	}
	if err := h.CheckEnv(env); err != nil {
		return nil, err
	}
	lr := &liveRelease{}
	if lr.name, lr.namespace, err = h.ReleaseAndNamespace(env, co.Namespace); err != nil {
		return nil, err
	}
	lr.access, err = c.access(h, lr.namespace, co, nil)
	return lr, err
}

// Status reads a hub's live release and the readiness of each of its resources.
type Status struct {
	*Config
	Hub, Env string
	Cluster  ClusterOptions
}

// Run reads the status.
func (s *Status) Run(ctx context.Context) (*deploy.StatusResult, error) {
	lr, err := s.liveRelease(s.Hub, s.Env, s.Cluster)
	if err != nil {
		return nil, err
	}
	return (&deploy.Status{Access: lr.access}).Run(ctx, lr.name, lr.namespace)
}

// History lists the revisions of a hub's release, oldest first.
type History struct {
	*Config
	Hub, Env string
	Cluster  ClusterOptions
}

// Run reads the history. A failed revision's description is helm's error, which can
// quote a secret: descriptions are masked.
func (h *History) Run(ctx context.Context) ([]deploy.Revision, error) {
	lr, err := h.liveRelease(h.Hub, h.Env, h.Cluster)
	if err != nil {
		return nil, err
	}
	revs, err := (&deploy.History{Access: lr.access}).Run(ctx, lr.name, lr.namespace)
	if err != nil {
		return nil, err
	}
	m, err := deploy.RevisionMasker(ctx, lr.access, lr.name, lr.namespace)
	if err != nil {
		return nil, err
	}
	for i := range revs {
		revs[i].Description = m.String(revs[i].Description)
	}
	return revs, nil
}

// Rollback rolls a hub's release back to a revision and waits until it is ready.
type Rollback struct {
	*Config
	Hub, Env string
	Cluster  ClusterOptions
	Revision int // zero: the one before the current
	Timeout  time.Duration
	Progress func(format string, args ...any)
}

// RollbackResult names the release and the revision it is now at.
type RollbackResult struct {
	Release   string `json:"release"`
	Namespace string `json:"namespace"`
	Revision  int    `json:"revision"`
}

// Run rolls back.
func (r *Rollback) Run(ctx context.Context) (*RollbackResult, error) {
	lr, err := r.liveRelease(r.Hub, r.Env, r.Cluster)
	if err != nil {
		return nil, err
	}
	rev, err := rollbackTo(ctx, lr.access, lr.name, lr.namespace, r.Revision, r.Timeout, r.Progress)
	if err != nil {
		return nil, err
	}
	return &RollbackResult{Release: lr.name, Namespace: lr.namespace, Revision: rev}, nil
}

// rollbackTo rolls release name back to revision (0: the one before the current),
// waits, and returns the revision it is now at.
func rollbackTo(ctx context.Context, access *cluster.Access, name, namespace string, revision int, timeout time.Duration, progress func(string, ...any)) (int, error) {
	// The API server refusing a revision's object quotes its value: mask the error.
	m, err := deploy.RevisionMasker(ctx, access, name, namespace)
	if err != nil {
		return 0, err
	}
	rev, err := (&deploy.Rollback{Access: access, Timeout: timeout, Progress: progress}).Run(ctx, name, namespace, revision)
	if err != nil {
		return 0, m.Error(err)
	}
	return rev, nil
}
