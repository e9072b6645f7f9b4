package release

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

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
// LoadChart have run. It renders the chart with the values and with stand-ins for every
// secret value (TraceRender), and sets Masker to hide, besides the secrets as they are,
// everything in which the renders differ (mask.Derived) or, when they fail, the part of
// the errors that differs (mask.Differing). It also records in the chart where the
// values hold secrets (SecretKeysAnnotation). A chart that renders with the values but
// not with the stand-ins is an error: what to mask cannot be told.
func (rel *Release) Trace(ctx context.Context) error {
	isSecret := rel.Values.IsSecret()
	t := rel.trace(ctx, rel.Values.Values, isSecret)
	if t.Untraceable {
		return rel.untraceable(ctx)
	}
	rel.rendered, rel.renderErr = t.Manifest, t.Err
	rel.setMasker(mask.New(append(slices.Clone(rel.Values.SecretStrings), t.Derived...)))
	rel.Chart = recordSecretKeys(rel.Chart, rel.Values.SecretKeys())
	rel.traced = true
	return nil
}

// untraceable says that the chart refuses the stand-ins of the release's secrets,
// naming the keys whose stand-in alone it refuses, found by trying each (a choice
// from a list, such as hub.db.type, often sits in a secrets file with the rest).
func (rel *Release) untraceable(ctx context.Context) error {
	r := &render.Template{ReleaseName: rel.Name, Namespace: rel.Namespace}
	var refused []string
	for _, keys := range rel.Values.SecretKeys() {
		at := func(k []string, _ any) bool { return slices.Equal(k, keys) }
		var err error
		mask.StdLog.Quiet(func() { _, err = r.Run(ctx, rel.Chart, values.Standin(rel.Values.Values, at)) })
		if err != nil {
			refused = append(refused, strings.Join(keys, "."))
		}
	}
	what, hint := "each secret value", "let the templates and the values schema accept any value of a secret's type, with no pattern, enum or comparison on it"
	if len(refused) > 0 {
		what = "the secret at " + strings.Join(refused, ", ")
		hint = "a value that is no secret, such as a choice from a list, belongs in config/; else " + hint
	}
	return &inputerr.Error{File: rel.Hub.Repo.Rel(rel.ChartDir),
		Msg: fmt.Sprintf("renders hub %s for %s, but not when %s is replaced by another value of its kind, so hubploy cannot tell which output comes from a secret and must be masked",
			rel.Hub.Name, rel.Env, what),
		Hint: hint}
}

// Derive returns what the release's chart makes of the secrets of vals, other values
// than the release's own (a live release's), in which isSecret picks the secrets: what
// the render of vals and that of their stand-in differ in, as Trace finds it. It fails
// when the chart does not render with vals, or not with their stand-in.
func (rel *Release) Derive(ctx context.Context, vals map[string]any, isSecret func(keys []string, leaf any) bool) ([]string, error) {
	t := rel.trace(ctx, vals, isSecret)
	if t.Err != nil || t.Untraceable {
		return nil, fmt.Errorf("the chart %s does not render with those values, or not with their stand-ins", rel.Hub.Repo.Rel(rel.ChartDir))
	}
	return t.Derived, nil
}

// Traced is a render of a chart with some values, and what it makes of their secrets.
type Traced struct {
	Manifest string
	Err      error // the render's: show it only masked
	// Derived is what the render and the stand-ins' differ in: output or error text.
	Derived []string
	// Untraceable: the values rendered, their stand-in did not.
	Untraceable bool
}

// TraceRender renders ch with vals, in which isSecret picks the secrets, and with
// stand-ins for them: one that renders as the secrets do (values.Standin), and one
// that differs in every character (values.Scrambled), for what templates make of a
// secret's punctuation alone, which the chart may refuse (then it tells nothing).
func TraceRender(ctx context.Context, r *render.Template, ch *chart.Chart, vals map[string]any, isSecret func(keys []string, leaf any) bool) Traced {
	var t Traced
	t.Manifest, t.Err = r.Run(ctx, ch, vals)
	var standin, scrambled string
	var standinErr, scrambledErr error
	// helm's log lines about these renders would show stand-ins.
	mask.StdLog.Quiet(func() {
		standin, standinErr = r.Run(ctx, ch, values.Standin(vals, isSecret))
		scrambled, scrambledErr = r.Run(ctx, ch, values.Scrambled(vals, isSecret))
	})
	switch {
	case t.Err == nil && standinErr != nil:
		t.Untraceable = true
	case t.Err == nil:
		t.Derived = mask.Derived(t.Manifest, standin)
		if scrambledErr == nil {
			t.Derived = append(t.Derived, mask.Derived(t.Manifest, scrambled)...)
		}
	case standinErr != nil:
		t.Derived = []string{mask.Differing(t.Err.Error(), standinErr.Error())}
		if scrambledErr != nil {
			t.Derived = append(t.Derived, mask.Differing(t.Err.Error(), scrambledErr.Error()))
		}
	}
	return t
}

func (rel *Release) trace(ctx context.Context, vals map[string]any, isSecret func([]string, any) bool) Traced {
	return TraceRender(ctx, &render.Template{ReleaseName: rel.Name, Namespace: rel.Namespace}, rel.Chart, vals, isSecret)
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
