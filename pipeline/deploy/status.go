package deploy

import (
	"context"
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
	s, err := newSession(ctx, st.Access, namespace, nil, nil)
	if err != nil {
		return nil, err
	}
	rel, err := action.NewGet(s.cfg).Run(name)
	if err != nil {
		return nil, releaseError(err, "reading", name, namespace)
	}
	out := &StatusResult{Release: name, Namespace: namespace, Status: rel.Info.Status.String(), Revision: rel.Version,
		Updated: rel.Info.LastDeployed.Time, Chart: chartName(rel)}
	resources, err := s.cfg.KubeClient.Build(strings.NewReader(rel.Manifest), false)
	if err != nil {
		return nil, err
	}
	for _, info := range resources {
		stat, msg := liveStatus(ctx, info)
		out.Resources = append(out.Resources, ResourceStatus{Resource: info.Mapping.GroupVersionKind.Kind + "/" + info.Name, Status: string(stat), Message: msg})
	}
	return out, nil
}
