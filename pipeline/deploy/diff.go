package deploy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"gopkg.in/yaml.v3"
	"helm.sh/helm/v3/pkg/action"
	helmrelease "helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"

	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/mask"
	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/values"
)

// ChangedMarker stands for a secret value that differs from the live one.
const ChangedMarker = "<masked, changed>"

// Diff compares what a deploy would apply with the live release, object by object.
type Diff struct {
	Access *cluster.Access
}

// DiffResult is the per-object unified diff; empty Text means no change.
type DiffResult struct {
	Release string `json:"release"`
	Live    int    `json:"live_revision"` // 0: not installed
	Changed int    `json:"changed_objects"`
	Text    string `json:"diff"`
}

// Run renders rel against the cluster and diffs it with the deployed revision. Secret
// data, values from secret files and what the templates make of them are masked on
// both sides (see liveMasker); a changed secret's data shows as ChangedMarker.
func (d *Diff) Run(ctx context.Context, rel *release.Release) (*DiffResult, error) {
	s, err := newSession(ctx, d.Access, rel.Namespace, nil, nil)
	if err != nil {
		return nil, err
	}
	res := &DiffResult{Release: rel.Name}
	var next *helmrelease.Release
	live, err := action.NewGet(s.cfg).Run(rel.Name)
	switch {
	case errors.Is(err, driver.ErrReleaseNotFound):
		live = nil
		in := action.NewInstall(s.cfg)
		in.ReleaseName, in.Namespace, in.DryRun, in.DryRunOption = rel.Name, rel.Namespace, true, "server"
		next, err = in.RunWithContext(ctx, rel.Chart, rel.Values.Values)
	case err != nil:
		return nil, err
	default:
		res.Live = live.Version
		next, err = s.dryRunUpgrade(ctx, rel)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel.Name, rel.Masker.Error(err))
	}
	oldObjs, newObjs := map[string]string{}, splitObjects(manifestWithHooks(next))
	masker := rel.Masker
	if live != nil {
		oldObjs = splitObjects(manifestWithHooks(live))
		masker = liveMasker(ctx, rel, live, manifestWithHooks(next))
	}
	keys := map[string]bool{}
	for k := range oldObjs {
		keys[k] = true
	}
	for k := range newObjs {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var b strings.Builder
	for _, k := range sorted {
		oldRaw, newRaw := maskSecretPair(oldObjs[k], newObjs[k])
		oldDoc := masker.String(oldRaw)
		newDoc := markChanged(oldRaw, newRaw, oldDoc, masker.String(newRaw))
		if oldDoc == newDoc {
			continue
		}
		res.Changed++
		err := difflib.WriteUnifiedDiff(&b, difflib.UnifiedDiff{
			A: difflib.SplitLines(oldDoc), B: difflib.SplitLines(newDoc),
			FromFile: "live/" + k, ToFile: "new/" + k, Context: 3,
		})
		if err != nil {
			return nil, err
		}
	}
	res.Text = b.String()
	return res, nil
}

// markChanged is newMasked, the masked new side of an object, with ChangedMarker for
// each Marker of a line that masking made equal to its live counterpart although it
// changed, so that a changed secret shows (and counts) in the diff. Lines pair up where
// the masked sides match; when masking joined lines, so that they cannot, one line at
// the end says that masked values changed.
func markChanged(oldDoc, newDoc, oldMasked, newMasked string) string {
	if oldDoc == newDoc {
		return newMasked
	}
	oldLines, newLines := strings.Split(oldDoc, "\n"), strings.Split(newDoc, "\n")
	oldMaskedLines, newMaskedLines := strings.Split(oldMasked, "\n"), strings.Split(newMasked, "\n")
	if len(oldLines) != len(oldMaskedLines) || len(newLines) != len(newMaskedLines) {
		if oldMasked == newMasked {
			return newMasked + "# " + ChangedMarker + ": masked values changed\n"
		}
		return newMasked
	}
	for _, op := range difflib.NewMatcher(oldMaskedLines, newMaskedLines).GetOpCodes() {
		if op.Tag != 'e' {
			continue
		}
		for k := 0; k < op.I2-op.I1; k++ {
			if oldLines[op.I1+k] != newLines[op.J1+k] {
				newMaskedLines[op.J1+k] = strings.ReplaceAll(newMaskedLines[op.J1+k], mask.Marker, ChangedMarker)
			}
		}
	}
	return strings.Join(newMaskedLines, "\n")
}

// liveMasker is rel's masker that also masks the live revision's secrets, which may be
// gone from today's secret files (removed, renamed) or be written differently by
// today's templates:
//   - the live values at the keys its chart recorded as secret (liveSecrets), as they
//     are and as today's chart renders them (found as release.Trace finds them); when
//     today's chart cannot render the live values, every live scalar that today's render
//     does not have as it is;
//   - every live scalar where today's render has something masked.
func liveMasker(ctx context.Context, rel *release.Release, live *helmrelease.Release, next string) *mask.Masker {
	isSecret := liveSecrets(rel, live)
	liveManifest := manifestWithHooks(live)
	hidden, err := rel.Derive(ctx, live.Config, isSecret)
	if err != nil {
		hidden = mask.Derived(liveManifest, next)
	}
	hidden = append(hidden, values.Secrets(live.Config, isSecret)...)
	return rel.Masker.With(append(hidden, mask.Beside(liveManifest, next, rel.Masker)...))
}

// liveSecrets picks the live release's secret values: those at the keys it recorded
// (recordedSecrets); for a release that recorded none, every value but those equal to
// today's at the same keys that are no secret today.
func liveSecrets(rel *release.Release, live *helmrelease.Release) func(keys []string, leaf any) bool {
	if _, ok := release.RecordedSecretKeys(live.Chart); ok {
		return recordedSecrets(live)
	}
	secretToday := rel.Values.IsSecret()
	return func(keys []string, leaf any) bool {
		today, ok := values.LookupKeys(rel.Values.Values, keys)
		if !ok || secretToday(keys, leaf) {
			return true
		}
		items, isList := today.([]any)
		if !isList {
			items = []any{today}
		}
		return !slices.ContainsFunc(items, func(t any) bool { return fmt.Sprint(t) == fmt.Sprint(leaf) })
	}
}

// maskSecretPair masks the data of a Secret on both sides, marking values that differ.
func maskSecretPair(oldDoc, newDoc string) (string, string) {
	oldData := map[string]string{}
	maskedOld := mask.SecretData(oldDoc, func(section, key, value string) string {
		oldData[section+"/"+key] = value
		return mask.Marker
	})
	maskedNew := mask.SecretData(newDoc, func(section, key, value string) string {
		if old, ok := oldData[section+"/"+key]; ok && old != value {
			return ChangedMarker
		}
		return mask.Marker
	})
	return maskedOld, maskedNew
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitObjects maps "Kind/namespace/name" to each object's YAML, dropping helm's
// "# Source" comments so that moves between templates do not show as changes.
func splitObjects(manifest string) map[string]string {
	out := map[string]string{}
	for _, doc := range docSeparator.Split(manifest, -1) {
		var head struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name      string `yaml:"name"`
				Namespace string `yaml:"namespace"`
			} `yaml:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil || head.Kind == "" {
			continue
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimSpace(doc), "\n") {
			if !strings.HasPrefix(l, "# Source: ") {
				lines = append(lines, l)
			}
		}
		key := head.Kind + "/" + head.Metadata.Name
		if head.Metadata.Namespace != "" {
			key = head.Kind + "/" + head.Metadata.Namespace + "/" + head.Metadata.Name
		}
		out[key] = strings.Join(lines, "\n") + "\n"
	}
	return out
}
