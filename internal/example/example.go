// Package example locates hubs-example, the deployment repository the project ships, and
// copies it for tests that change it.
package example

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"

	"filippo.io/age"
	"gopkg.in/yaml.v3"

	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/pipeline/secrets"
	"github.com/hubploy/hubploy/pipeline/values"
)

// Z2JHRepository is the chart repository the example's Chart.lock pins.
const Z2JHRepository = "https://hub.jupyter.org/helm-chart/"

// Dir is the hubs-example folder.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "hubs-example")
}

// StandInChart is the folder of the stand-in z2jh chart.
func StandInChart() string { return filepath.Join(Dir(), "offline-charts", "jupyterhub") }

// MirrorFolder is the local mirror of the z2jh repository: unpacked stand-in charts.
func MirrorFolder() string { return filepath.Join(Dir(), "offline-charts") }

// AgeKeyFile is the example-only age key that decrypts the example's secrets.
func AgeKeyFile() string { return filepath.Join(Dir(), "example-age-key.txt") }

// Recipient is the public key of AgeKeyFile, which the example's secrets are encrypted
// for.
func Recipient(t testing.TB) string {
	t.Helper()
	key, err := os.ReadFile(AgeKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	ids, err := age.ParseIdentities(bytes.NewReader(key))
	if err != nil {
		t.Fatal(err)
	}
	return ids[0].(*age.X25519Identity).Recipient().String()
}

// DataHubShaped is a deployment repository shaped like Berkeley DataHub's, written for
// the Python hubploy: test/compat/testdata/datahub-shaped.
func DataHubShaped() string {
	return filepath.Join(Dir(), "..", "test", "compat", "testdata", "datahub-shaped")
}

// DataHubChartRepository is the chart repository DataHub's umbrella chart names.
const DataHubChartRepository = "https://jupyterhub.github.io/helm-chart/"

// StandInAt writes a copy of the stand-in z2jh chart, made version version, into the
// folder dir/jupyterhub-<version>, and returns that folder.
func StandInAt(dir, version string) (string, error) {
	dst := filepath.Join(dir, "jupyterhub-"+version)
	if err := os.CopyFS(dst, os.DirFS(StandInChart())); err != nil {
		return "", err
	}
	meta := filepath.Join(dst, "Chart.yaml")
	data, err := os.ReadFile(meta)
	if err != nil {
		return "", err
	}
	v := regexp.MustCompile(`(?m)^version: .*$`)
	if !v.Match(data) {
		return "", fmt.Errorf("%s has no version line", meta)
	}
	return dst, os.WriteFile(meta, v.ReplaceAll(data, []byte("version: "+version)), 0o644)
}

// Copy copies hubs-example into a temporary folder and returns it.
func Copy(t testing.TB) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(Dir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(Dir(), p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// AddCheckService gives a hub of a copy of the example (root) the health-check service
// in env's secrets, as z2jh's hub.services.<name> with the admin role and token: the
// file is decrypted, changed and encrypted again for the example's key.
func AddCheckService(t testing.TB, root, hub, env, name, token string) {
	t.Helper()
	path := filepath.Join(root, "deployments", hub, "secrets", env+".yaml")
	key, err := os.ReadFile(AgeKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	plain, _, err := (&secrets.Decrypter{AgeIdentities: []string{string(key)}}).ReadFile(path, path)
	if err != nil {
		t.Fatal(err)
	}
	var vals map[string]any
	if err := yaml.Unmarshal(plain, &vals); err != nil {
		t.Fatal(err)
	}
	values.SetPath(vals, "jupyterhub.hub.services."+name+".apiToken", token)
	services, _ := values.Lookup(vals, "jupyterhub.hub.services."+name)
	services.(map[string]any)["admin"] = true
	plain, err = yaml.Marshal(vals)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, sopstest.MustEncrypt(t, path, plain, Recipient(t)), 0o600); err != nil {
		t.Fatal(err)
	}
}
