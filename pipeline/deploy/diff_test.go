package deploy

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"helm.sh/helm/v3/pkg/chart"
	helmrelease "helm.sh/helm/v3/pkg/release"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/pipeline/charts"
	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

// oldSecret is a secret that the live revision had and today's secret files lack.
const oldSecret = `0ld "s3cr3t" <gone>`

// diffRepo is a copy of hubs-example whose chart writes .Values.old base64-encoded,
// and which prepares datahub prod with its secrets file holding extra.
type diffRepo struct {
	t    *testing.T
	root string
	key  string
}

func newDiffRepo(t *testing.T) *diffRepo {
	d := &diffRepo{t: t, root: example.Copy(t)}
	key, err := os.ReadFile(example.AgeKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	d.key = string(key)
	tmpl := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old\ndata:\n  b64: {{ .Values.old | default \"\" | b64enc }}\n"
	if err := os.WriteFile(filepath.Join(d.root, "hub/templates/old.yaml"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *diffRepo) prepare(extra string) *release.Release {
	t := d.t
	ids, err := age.ParseIdentities(strings.NewReader(d.key))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(d.root, "deployments/datahub/secrets/prod.yaml")
	plain := "jupyterhub:\n  proxy:\n    secretToken: 0123456789abcdef\n" + extra
	if err := os.WriteFile(path, sopstest.MustEncrypt(t, path, []byte(plain), ids[0].(*age.X25519Identity).Recipient().String()), 0o600); err != nil {
		t.Fatal(err)
	}
	r, _ := repo.Open(d.root)
	h, err := r.Hub("datahub")
	if err != nil {
		t.Fatal(err)
	}
	rel, err := release.Prepare(context.Background(), h, "prod", release.Options{
		Decrypter: &secrets.Decrypter{AgeIdentities: []string{d.key}},
		Charts:    &charts.Loader{CacheDir: t.TempDir(), Mirrors: map[string]string{example.Z2JHRepository: example.MirrorFolder()}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// live is rel as helm keeps it once deployed, with chart ch.
func live(t *testing.T, rel *release.Release, ch *chart.Chart) *helmrelease.Release {
	manifest, err := rel.Render(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &helmrelease.Release{Config: rel.Values.Values, Chart: ch, Manifest: manifest}
}

// A secret removed since the live revision is masked on the live side, as it is and as
// the templates write it, whether the revision recorded its secret keys or not; values
// that are no secret still show.
func TestLiveMaskerRemovedSecret(t *testing.T) {
	d := newDiffRepo(t)
	before := d.prepare("old: " + `"0ld \"s3cr3t\" <gone>"` + "\n")
	today := d.prepare("")
	next, err := today.Render(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]*chart.Chart{
		"recorded":                     before.Chart,
		"not recorded (older hubploy)": {Metadata: &chart.Metadata{Name: "hub", Version: "0.1.0"}},
	} {
		t.Run(name, func(t *testing.T) {
			l := live(t, before, ch)
			encoded := base64.StdEncoding.EncodeToString([]byte(oldSecret))
			if !strings.Contains(l.Manifest, encoded) {
				t.Fatal("the live manifest lacks the old secret: the test is wrong")
			}
			masked := liveMasker(context.Background(), today, l, next).Manifest(l.Manifest)
			if strings.Contains(masked, encoded) {
				t.Errorf("the masked live side holds the old secret, base64-encoded")
			}
			if !strings.Contains(masked, "timeout: 3600") {
				t.Error("a value that is no secret is masked")
			}
		})
	}
}

func TestMarkChanged(t *testing.T) {
	for _, tc := range []struct{ oldDoc, newDoc, oldMasked, newMasked, want string }{
		{"a: 1\nb: s1\n", "a: 1\nb: s2\n", "a: 1\nb: <masked>\n", "a: 1\nb: <masked>\n", "a: 1\nb: <masked, changed>\n"},
		{"a: 1\nb: s1\n", "a: 2\nb: s1\n", "a: 1\nb: <masked>\n", "a: 2\nb: <masked>\n", "a: 2\nb: <masked>\n"},
		// A line added or removed elsewhere does not stop the others from pairing up.
		{"a: 1\nb: s1\n", "b: s2\n", "a: 1\nb: <masked>\n", "b: <masked>\n", "b: <masked, changed>\n"},
		{"b: \"s\n  1\"\n", "b: s2\n", "b: <masked>\n", "b: <masked>\n", "b: <masked>\n# <masked, changed>: masked values changed\n"},
	} {
		if got := markChanged(tc.oldDoc, tc.newDoc, tc.oldMasked, tc.newMasked); got != tc.want {
			t.Errorf("markChanged(%q, %q) = %q, want %q", tc.oldDoc, tc.newDoc, got, tc.want)
		}
	}
}
