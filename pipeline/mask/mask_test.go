package mask

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const manifest = `---
# Source: hub/charts/jupyterhub/templates/hub-secret.yaml
apiVersion: v1
kind: Secret
metadata:
  name: hub
type: Opaque
stringData:
  values.yaml: |
    hub:
      config:
        client_secret: not-in-secrets-files
  token: "abcdef012345"
data:
  other: c2VjcmV0
---
# Source: hub/charts/jupyterhub/templates/hub-configmap.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: hub
data:
  config.yaml: |
    api_key: abcdef012345
    pem: |
      -----BEGIN KEY-----
      bGluZTE=
      -----END KEY-----
    short: "abc"
`

func TestManifest(t *testing.T) {
	m := New([]string{"abcdef012345", "-----BEGIN KEY-----\nbGluZTE=\n-----END KEY-----\n", "abc"})
	got := m.Manifest(manifest)
	for _, leak := range []string{"abcdef012345", "not-in-secrets-files", "c2VjcmV0", "bGluZTE="} {
		if strings.Contains(got, leak) {
			t.Errorf("%q leaked:\n%s", leak, got)
		}
	}
	for _, keep := range []string{"# Source: hub/charts/jupyterhub/templates/hub-secret.yaml", "name: hub", "api_key: " + Marker, `short: "abc"`, "values.yaml: " + Marker} {
		if !strings.Contains(got, keep) {
			t.Errorf("%q missing from:\n%s", keep, got)
		}
	}
	if !strings.HasPrefix(got, "---\n# Source") || strings.Count(got, "\n---\n") != 1 {
		t.Errorf("document separators changed:\n%s", got)
	}
}

func TestLongestFirst(t *testing.T) {
	m := New([]string{"secret", "secret-longer"})
	if got := m.String("x secret-longer y secret"); got != "x "+Marker+" y "+Marker {
		t.Fatalf("got %q", got)
	}
}

func TestErrorMasksAndKeepsChain(t *testing.T) {
	sentinel := errors.New("helm: 1 error occurred:\n\t* value s3cr3t-token is invalid")
	wrapped := fmt.Errorf("upgrading: %w", sentinel)
	err := New([]string{"s3cr3t-token"}).Error(wrapped)
	if got, want := err.Error(), "upgrading: helm: 1 error occurred: * value <masked> is invalid"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, sentinel) {
		t.Error("errors.Is lost the wrapped error")
	}
	if New(nil).Error(nil) != nil {
		t.Error("a nil error must stay nil")
	}
	// Masking again with more secrets masks the masked text, not the original.
	again := New([]string{"upgrading"}).Error(err)
	if strings.Contains(again.Error(), "s3cr3t") || !strings.Contains(again.Error(), "<masked>: helm") || !errors.Is(again, sentinel) {
		t.Errorf("masking twice: %q", again.Error())
	}
}
