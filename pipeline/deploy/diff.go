package deploy

import (
	"context"
	"errors"
	"fmt"
	"regexp"
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
// data and values from encrypted files are masked on both sides; a changed secret
// shows as ChangedMarker.
func (d *Diff) Run(ctx context.Context, rel *release.Release) (*DiffResult, error) {
	s, err := newSession(ctx, d.Access, rel.Namespace, nil, 0)
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
		// Old secrets sit at the same paths as today's: mask them too.
		secrets := append([]string(nil), rel.Values.SecretStrings...)
		for _, p := range rel.Values.SecretPaths {
			if v, ok := values.Lookup(live.Config, p); ok {
				secrets = append(secrets, scalarStrings(v)...)
			}
		}
		masker = mask.New(secrets)
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
		oldDoc, newDoc := maskSecretPair(oldObjs[k], newObjs[k])
		oldDoc, newDoc = masker.String(oldDoc), masker.String(newDoc)
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

func scalarStrings(v any) []string {
	switch t := v.(type) {
	case []any:
		var out []string
		for _, c := range t {
			out = append(out, scalarStrings(c)...)
		}
		return out
	case map[string]any, nil, bool:
		return nil
	default:
		return []string{fmt.Sprint(t)}
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
