package deploy

import (
	"errors"
	"fmt"

	"helm.sh/helm/v3/pkg/storage/driver"

	"github.com/hubploy/hubploy/pipeline/mask"
)

// maskDescriptions masks the descriptions helm keeps with the revisions of release name:
// a failed deploy's is helm's error, which can quote a value (the API server's "Invalid
// value: …"), and `hubploy history` (or helm's) shows it.
func maskDescriptions(s *session, name string, m *mask.Masker) error {
	hist, err := s.cfg.Releases.History(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil // the deploy failed before helm recorded a revision
	}
	if err != nil {
		return fmt.Errorf("reading the revisions of %s to mask their descriptions: %w", name, err)
	}
	for _, r := range hist {
		if masked := m.String(r.Info.Description); masked != r.Info.Description {
			r.Info.Description = masked
			if err := s.cfg.Releases.Update(r); err != nil {
				return fmt.Errorf("masking the description of revision %d of %s: %w", r.Version, name, err)
			}
		}
	}
	return nil
}
