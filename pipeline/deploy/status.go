package deploy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"

	"github.com/hubploy/hubploy/pipeline/cluster"
)

// Status reads a release and the readiness of each of its resources.
type Status struct {
	Access *cluster.Access
}

// ResourceStatus is one object of a release, with its kstatus.
type ResourceStatus struct {
	Resource string `json:"resource"` // Kind/name
	Status   string `json:"status"`
	Message  string `json:"message"`
}

// StatusResult describes a release.
type StatusResult struct {
	Release   string           `json:"release"`
	Namespace string           `json:"namespace"`
	Status    string           `json:"status"`
	Revision  int              `json:"revision"`
	Updated   time.Time        `json:"updated"`
	Chart     string           `json:"chart"`
	Resources []ResourceStatus `json:"resources"`
}

// Run reads the release name in namespace.
func (st *Status) Run(ctx context.Context, name, namespace string) (*StatusResult, error) {
	s, err := newSession(ctx, st.Access, namespace, func(string, ...any) {}, 0)
	if err != nil {
		return nil, err
	}
	rel, err := action.NewGet(s.cfg).Run(name)
	if err != nil {
		return nil, fmt.Errorf("release %s in namespace %s: %w", name, namespace, err)
	}
	out := &StatusResult{Release: name, Namespace: namespace, Status: rel.Info.Status.String(), Revision: rel.Version,
		Updated: rel.Info.LastDeployed.Time, Chart: rel.Chart.Metadata.Name + "-" + rel.Chart.Metadata.Version}
	resources, err := s.cfg.KubeClient.Build(strings.NewReader(rel.Manifest), false)
	if err != nil {
		return nil, err
	}
	for _, info := range resources {
		stat, msg := liveStatus(info)
		out.Resources = append(out.Resources, ResourceStatus{Resource: info.Mapping.GroupVersionKind.Kind + "/" + info.Name, Status: string(stat), Message: msg})
	}
	return out, nil
}

// Rollback rolls a release back to a revision (0: the one before the current).
type Rollback struct {
	Access   *cluster.Access
	Timeout  time.Duration
	Progress func(format string, args ...any)
}

// Run rolls back and returns the new revision.
func (rb *Rollback) Run(ctx context.Context, name, namespace string, revision int) (int, error) {
	progress := rb.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	s, err := newSession(ctx, rb.Access, namespace, progress, 0)
	if err != nil {
		return 0, err
	}
	lk, err := acquireLock(ctx, s.client, namespace, name, false, progress)
	if err != nil {
		return 0, err
	}
	defer lk.release()
	a := action.NewRollback(s.cfg)
	a.Version, a.Wait, a.Timeout = revision, true, waitTimeout(rb.Timeout)
	if err := a.Run(name); err != nil {
		return 0, fmt.Errorf("rolling back %s: %w", name, err)
	}
	cur, err := action.NewGet(s.cfg).Run(name)
	if err != nil {
		return 0, err
	}
	return cur.Version, nil
}
