package release

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/mask"
	"github.com/hubploy/hubploy/pipeline/render"
	"github.com/hubploy/hubploy/pipeline/values"
)

// SecretKeysAnnotation is the chart annotation in which a deployed release records the
// key paths of its values that held secrets (never the secrets), as a JSON list of
// lists of keys, so that a later diff masks them even once they are gone from the
// secret files.
const SecretKeysAnnotation = "hubploy.io/secret-keys"

// Trace finds what the release's output makes of its secrets, once BuildValues and
// LoadChart have run. It renders the chart twice, with the values and with a stand-in
// for every secret value (values.Standin), and sets Masker to hide, besides the secrets
// as they are, everything in which the two renders differ (mask.Derived) or, when both
// fail, the part of the error that differs (mask.Differing). It also records in the
// chart where the values hold secrets (SecretKeysAnnotation). A chart that renders with
// the values but not with the stand-ins is an error: what to mask cannot be told.
func (rel *Release) Trace(ctx context.Context) error {
	isSecret := rel.Values.IsSecret()
	t := rel.trace(ctx, rel.Values.Values, isSecret)
	if t.untraceable {
		return &inputerr.Error{File: rel.Hub.Repo.Rel(rel.ChartDir),
			Msg: fmt.Sprintf("renders hub %s for %s, but not when each secret value is replaced by another of its kind, so hubploy cannot tell which output comes from a secret and must be masked",
				rel.Hub.Name, rel.Env),
			Hint: "let the templates and the values schema accept any value of a secret's type: no pattern, enum or comparison on a secret value"}
	}
	rel.rendered, rel.renderErr = t.manifest, t.err
	rel.setMasker(mask.New(append(slices.Clone(rel.Values.SecretStrings), t.derived...)))
	rel.Chart = recordSecretKeys(rel.Chart, rel.Values.SecretKeys())
	rel.traced = true
	return nil
}

// Derive returns what the release's chart makes of the secrets of vals, other values
// than the release's own (a live release's), in which isSecret picks the secrets: what
// the render of vals and that of their stand-in differ in, as Trace finds it. It fails
// when the chart does not render with vals, or not with their stand-in.
func (rel *Release) Derive(ctx context.Context, vals map[string]any, isSecret func(keys []string, leaf any) bool) ([]string, error) {
	t := rel.trace(ctx, vals, isSecret)
	if t.err != nil || t.untraceable {
		return nil, fmt.Errorf("the chart %s does not render with those values, or not with their stand-ins", rel.Hub.Repo.Rel(rel.ChartDir))
	}
	return t.derived, nil
}

// traced is a render with some values and what it makes of their secrets.
type traced struct {
	manifest string
	err      error
	// derived is what the render and the stand-in's differ in: output or error text.
	derived []string
	// untraceable: the values rendered, their stand-in did not.
	untraceable bool
}

func (rel *Release) trace(ctx context.Context, vals map[string]any, isSecret func([]string, any) bool) traced {
	r := &render.Template{ReleaseName: rel.Name, Namespace: rel.Namespace}
	var t traced
	t.manifest, t.err = r.Run(ctx, rel.Chart, vals)
	var standin string
	var standinErr error
	// helm's log lines about the stand-in render would show stand-ins.
	mask.StdLog.Quiet(func() { standin, standinErr = r.Run(ctx, rel.Chart, values.Standin(vals, isSecret)) })
	switch {
	case t.err == nil && standinErr != nil:
		t.untraceable = true
	case t.err == nil:
		t.derived = mask.Derived(t.manifest, standin)
	case standinErr != nil:
		t.derived = []string{mask.Differing(t.err.Error(), standinErr.Error())}
	}
	return t
}

// recordSecretKeys returns ch with keys recorded in its annotations. The metadata is
// copied: the chart's own stays as loaded.
func recordSecretKeys(ch *chart.Chart, keys [][]string) *chart.Chart {
	data, _ := json.Marshal(keys) // lists of strings always marshal
	recorded := *ch
	md := *ch.Metadata
	md.Annotations = maps.Clone(md.Annotations)
	if md.Annotations == nil {
		md.Annotations = map[string]string{}
	}
	md.Annotations[SecretKeysAnnotation] = string(data)
	recorded.Metadata = &md
	return &recorded
}

// RecordedSecretKeys reads the key paths a deployed release's chart recorded; ok is
// false when it recorded none (a release deployed by something else than hubploy, or an
// older hubploy).
func RecordedSecretKeys(ch *chart.Chart) (keys [][]string, ok bool) {
	if ch == nil || ch.Metadata == nil {
		return nil, false
	}
	data, found := ch.Metadata.Annotations[SecretKeysAnnotation]
	if !found || json.Unmarshal([]byte(data), &keys) != nil {
		return nil, false
	}
	return keys, true
}
