package deploy

import (
	"context"
	"fmt"
	"slices"

	helmrelease "helm.sh/helm/v3/pkg/release"

	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/mask"
	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/values"
)

// RevisionMasker masks the secrets that the revisions of release name hold, which
// messages about them quote: a rollback's error (the API server refusing a revision's
// object quotes its value), a failed revision's description (helm's error). Each
// revision's secrets are its values at the keys it recorded (recordedSecrets), as they
// are and as messages quote them.
func RevisionMasker(ctx context.Context, access *cluster.Access, name, namespace string) (*mask.Masker, error) {
	s, err := newSession(ctx, access, namespace, nil, nil)
	if err != nil {
		return nil, err
	}
	hist, err := s.history(name)
	if err != nil {
		return nil, fmt.Errorf("reading the revisions of %s to mask their secrets: %w", name, err)
	}
	var hidden []string
	for _, r := range hist {
		hidden = append(hidden, values.Secrets(r.Config, recordedSecrets(r))...)
	}
	return mask.New(hidden), nil
}

// recordedSecrets picks the secret values of revision r: those at the keys it recorded
// (release.SecretKeysAnnotation), or, for a revision that recorded none, all.
func recordedSecrets(r *helmrelease.Release) func(keys []string, leaf any) bool {
	recorded, ok := release.RecordedSecretKeys(r.Chart)
	if !ok {
		return func([]string, any) bool { return true }
	}
	return func(keys []string, _ any) bool {
		return slices.ContainsFunc(recorded, func(r []string) bool { return len(keys) >= len(r) && slices.Equal(keys[:len(r)], r) })
	}
}
