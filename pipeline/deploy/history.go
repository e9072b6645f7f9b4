package deploy

import (
	"context"
	"slices"
	"time"

	helmrelease "helm.sh/helm/v3/pkg/release"

	"github.com/hubploy/hubploy/pipeline/cluster"
)

// History lists the revisions of a release, as `helm history` does.
type History struct {
	Access *cluster.Access
}

// Revision is one revision of a release.
type Revision struct {
	Revision    int       `json:"revision"`
	Status      string    `json:"status"`
	Chart       string    `json:"chart"` // name-version
	AppVersion  string    `json:"app_version"`
	Updated     time.Time `json:"updated"`
	Description string    `json:"description"`
}

// Run returns the revisions of the release name in namespace, oldest first.
func (h *History) Run(ctx context.Context, name, namespace string) ([]Revision, error) {
	s, err := newSession(ctx, h.Access, namespace, nil, nil)
	if err != nil {
		return nil, err
	}
	hist, err := s.history(name)
	if err != nil {
		return nil, err
	}
	if len(hist) == 0 {
		return nil, &notDeployedError{release: name, namespace: namespace}
	}
	slices.SortFunc(hist, func(a, b *helmrelease.Release) int { return a.Version - b.Version })
	out := make([]Revision, len(hist))
	for i, r := range hist {
		out[i] = Revision{Revision: r.Version, Status: r.Info.Status.String(), Chart: chartName(r), Updated: r.Info.LastDeployed.Time, Description: r.Info.Description}
		if r.Chart != nil && r.Chart.Metadata != nil {
			out[i].AppVersion = r.Chart.Metadata.AppVersion
		}
	}
	return out, nil
}
