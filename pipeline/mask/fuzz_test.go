package mask_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/hubploy/hubploy/pipeline/mask"
	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/render"
)

// templates apply to .Values.secret what helm's template functions offer.
const templates = `apiVersion: v1
kind: ConfigMap
metadata:
  name: c
data:
  quote: {{ .Values.secret | quote }}
  squote: |
    {{- .Values.secret | squote | nindent 4 }}
  json: {{ .Values.secret | toJson | quote }}
  obj: {{ dict "k" .Values.secret | toJson }}
  pretty: |
    {{- dict "k" .Values.secret | toPrettyJson | nindent 4 }}
  yaml: |
    {{- dict "k" .Values.secret | toYaml | nindent 4 }}
  b64: {{ .Values.secret | b64enc }}
  upper: {{ .Values.secret | upper | quote }}
  trunc: {{ .Values.secret | trunc 8 | quote }}
  sha: {{ .Values.secret | sha256sum }}
  host: {{ printf "%s@host" .Values.secret | quote }}
  {{- if .Values.fail }}
  {{- fail (printf "bad secret %q" .Values.secret) }}
  {{- end }}
`

// FuzzMaskDerived renders a secret through every template function above, masks the
// output with what release.TraceRender finds (as release.Trace does), and checks that
// no secret, in any encoding the templates offer, survives: not in the manifest, nor in
// the error of a template that fails quoting it. Its seeds are in
// testdata/fuzz/FuzzMaskDerived.
func FuzzMaskDerived(f *testing.F) {
	ch := &chart.Chart{Metadata: &chart.Metadata{APIVersion: "v2", Name: "c", Version: "0.1.0"},
		Templates: []*chart.File{{Name: "templates/c.yaml", Data: []byte(templates)}}}
	r := &render.Template{ReleaseName: "r", Namespace: "n"}
	isSecret := func(keys []string, _ any) bool { return keys[0] == "secret" }
	// What the templates write whatever the secret: a form found there is no leak.
	neutral, err := r.Run(context.Background(), ch, map[string]any{"secret": "x", "fail": false})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, secret string) {
		if !utf8.ValidString(secret) || len(strings.TrimSpace(secret)) < mask.MinLength {
			t.Skip("masked only when valid text of at least mask.MinLength")
		}
		rendered := release.TraceRender(context.Background(), r, ch, map[string]any{"secret": secret, "fail": false}, isSecret)
		if rendered.Err != nil {
			t.Skipf("the manifest does not render with this secret: %v", rendered.Err)
		}
		if rendered.Untraceable {
			t.Fatal("renders with the secret, not with its stand-in")
		}
		masked := mask.New(append([]string{secret}, rendered.Derived...)).Manifest(rendered.Manifest)
		leaks(t, "manifest", masked, neutral, secret)

		failed := release.TraceRender(context.Background(), r, ch, map[string]any{"secret": secret, "fail": true}, isSecret)
		if failed.Err == nil {
			t.Fatalf("fail did not fail:\n%s", masked)
		}
		leaks(t, "error", mask.New(append([]string{secret}, failed.Derived...)).Error(failed.Err).Error(), neutral, secret)
	})
}

// leaks fails the test for each encoding of secret found in text that neutral lacks.
func leaks(t *testing.T, what, text, neutral, secret string) {
	t.Helper()
	jsonQuoted, _ := json.Marshal(secret)
	sum := sha256.Sum256([]byte(secret))
	goQuoted := strconv.Quote(secret)
	for name, form := range map[string]string{
		"as is":         secret,
		"Go-quoted":     goQuoted[1 : len(goQuoted)-1],
		"JSON":          string(jsonQuoted[1 : len(jsonQuoted)-1]),
		"YAML-quoted":   strings.ReplaceAll(secret, "'", "''"),
		"base64":        base64.StdEncoding.EncodeToString([]byte(secret)),
		"upper-case":    strings.ToUpper(secret),
		"sha256":        hex.EncodeToString(sum[:]),
		"a line of it":  longestLine(secret),
		"with its host": secret + "@host",
	} {
		form = strings.TrimSpace(form)
		if len(form) >= mask.MinLength && strings.Contains(text, form) && !strings.Contains(neutral, form) {
			t.Errorf("%s holds the secret %s (%q):\n%s", what, name, form, text)
		}
		// Nor any 8 bytes of it that the templates and the marker do not write anyway.
		for i := 0; i+8 <= len(form); i++ {
			if w := form[i : i+8]; strings.Contains(text, w) && !strings.Contains(neutral+mask.Marker, w) {
				t.Errorf("%s holds 8 bytes of the secret %s (%q):\n%s", what, name, w, text)
				break
			}
		}
	}
}

func longestLine(s string) string {
	longest := ""
	for _, l := range strings.Split(s, "\n") {
		if len(strings.TrimSpace(l)) > len(strings.TrimSpace(longest)) {
			longest = l
		}
	}
	return fmt.Sprint(longest)
}
