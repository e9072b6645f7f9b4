package release_test

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/repo"
)

// leak is a secret that templates escape: quotes, a backslash, HTML characters, a
// control character.
const leak = `it's "s3cr3t" \ <&> ` + "\x01" + ` end`

// withSecret is a copy of hubs-example whose datahub prod secrets also hold leak (at a
// key the chart ignores), and whose chart has the template given.
func withSecret(t *testing.T, template string) *repo.Hub {
	t.Helper()
	root := example.Copy(t)
	key, err := os.ReadFile(example.AgeKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	ids, err := age.ParseIdentities(strings.NewReader(string(key)))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "deployments/datahub/secrets/prod.yaml")
	plain := "leak: " + strconv.Quote(leak) + "\njupyterhub:\n  proxy:\n    secretToken: 0123456789abcdef\n"
	if err := os.WriteFile(path, sopstest.MustEncrypt(t, path, []byte(plain), ids[0].(*age.X25519Identity).Recipient().String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "hub/templates/leak.yaml"), []byte(template), 0o644); err != nil {
		t.Fatal(err)
	}
	r, _ := repo.Open(root)
	h, err := r.Hub("datahub")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Every way a template escapes or transforms a secret is masked, not only the secret as
// it is (which is not even in the output here).
func TestTraceMasksWhatTemplatesMake(t *testing.T) {
	h := withSecret(t, `apiVersion: v1
kind: ConfigMap
metadata:
  name: leak
data:
  {{- $s := .Values.leak }}
  yaml: |
    {{- dict "k" $s | toYaml | nindent 4 }}
  json: {{ dict "k" $s | toJson }}
  quoted: {{ $s | quote }}
  b64: {{ $s | b64enc }}
  upper: {{ $s | upper | quote }}
  cut: {{ $s | trunc 9 | quote }}
`)
	rel, err := release.Prepare(context.Background(), h, "prod", options(t))
	if err != nil {
		t.Fatal(err)
	}
	out, err := rel.Render(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	masked := rel.Masker.Manifest(out)
	for _, form := range []string{`\"s3cr3t\" \\ <&> \x01 end"`, `\"s3cr3t\" \\ \u003c\u0026\u003e \u0001`,
		base64.StdEncoding.EncodeToString([]byte(leak)), `IT'S \"S3CR3T\"`, `"it's \"s3c"`} {
		if !strings.Contains(out, form) {
			t.Errorf("the render lacks %q: the test is wrong", form)
		}
		if strings.Contains(masked, form) {
			t.Errorf("masked output holds %q:\n%s", form, masked)
		}
	}
}

// A template that fails quoting a secret: the part of helm's message that differs from
// the stand-in render's is masked, in Render's error as in a deploy's.
func TestTraceMasksFailMessages(t *testing.T) {
	h := withSecret(t, `{{ fail (printf "no good: %q, %s" .Values.leak (b64enc .Values.leak)) }}`)
	rel, err := release.Prepare(context.Background(), h, "prod", options(t))
	if err != nil {
		t.Fatalf("a chart that does not render still prepares: %v", err)
	}
	_, err = rel.Render(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no good: <masked>") || !inputerr.Is(err) {
		t.Fatalf("got %v", err)
	}
	for _, form := range []string{"s3cr3t", base64.StdEncoding.EncodeToString([]byte(leak))[:12]} {
		if strings.Contains(err.Error(), form) {
			t.Errorf("the error holds %q: %v", form, err)
		}
	}
}

// A chart that renders with the secrets but not with stand-ins cannot be traced: hubploy
// refuses rather than show what it cannot tell apart.
func TestTraceRefusesWhatItCannotTrace(t *testing.T) {
	h := withSecret(t, `{{ if ne .Values.jupyterhub.proxy.secretToken "0123456789abcdef" }}{{ fail "wrong token" }}{{ end }}`)
	_, err := release.Prepare(context.Background(), h, "prod", options(t))
	if err == nil || !strings.Contains(err.Error(), "but not when the secret at jupyterhub.proxy.secretToken is replaced") || !inputerr.Is(err) {
		t.Fatalf("got %v", err)
	}
}

// The chart a release deploys records where its values hold secrets, never what they are.
func TestTraceRecordsSecretKeys(t *testing.T) {
	h := withSecret(t, "")
	rel, err := release.Prepare(context.Background(), h, "prod", options(t))
	if err != nil {
		t.Fatal(err)
	}
	keys, ok := release.RecordedSecretKeys(rel.Chart)
	if !ok || !slices.ContainsFunc(keys, func(k []string) bool { return slices.Equal(k, []string{"leak"}) }) {
		t.Fatalf("recorded %q", keys)
	}
	if strings.Contains(rel.Chart.Metadata.Annotations[release.SecretKeysAnnotation], "s3cr3t") {
		t.Error("the record holds a secret")
	}
	fresh, _ := (options(t).Charts).Load(context.Background(), rel.ChartDir, "hub")
	if _, ok := release.RecordedSecretKeys(fresh); ok {
		t.Error("the record is on the chart as loaded")
	}
}
