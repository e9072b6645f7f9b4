package repo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func makeRepo(t *testing.T, files ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, f := range files {
		p := filepath.Join(root, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDiscovery(t *testing.T) {
	root := makeRepo(t,
		"deployments/datahub/hubploy.yaml",
		"deployments/datahub/config/common.yaml",
		"deployments/datahub/config/staging.yaml",
		"deployments/datahub/config/prod.yaml",
		"deployments/datahub/config/develop.yaml",
		"deployments/stat20/hubploy.yaml",
		"deployments/template/README.md", // no hubploy.yaml: not a hub
	)
	r, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	names, _ := r.HubNames()
	if diff := cmp.Diff([]string{"datahub", "stat20"}, names); diff != "" {
		t.Error(diff)
	}
	h, err := r.Hub("datahub")
	if err != nil {
		t.Fatal(err)
	}
	envs, _ := h.Environments()
	if diff := cmp.Diff([]string{"develop", "prod", "staging"}, envs); diff != "" {
		t.Error(diff)
	}
	if got, err := r.HubsWithEnv("prod"); err != nil || len(got) != 1 || got[0] != "datahub" {
		t.Errorf("HubsWithEnv(prod) = %v, %v", got, err)
	}
	if _, err := r.HubsWithEnv("qa"); err == nil || err.Error() != `no hub has an environment "qa" (environments are the config/<env>.yaml files)` {
		t.Errorf("HubsWithEnv(qa): %v", err)
	}
	if err := h.CheckEnv("develop"); err != nil {
		t.Error(err)
	}
	for _, tc := range []struct {
		got  error
		want string
	}{
		{h.CheckEnv("stagng"), `hub "datahub" has no environment "stagng": there is no deployments/datahub/config/stagng.yaml (did you mean "staging"? environments are the config/<env>.yaml files; this hub has: develop, prod, staging)`},
		{func() error { _, err := r.Hub("datahb"); return err }(), `hub "datahb" not found: there is no deployments/datahb/hubploy.yaml (did you mean "datahub"? available: datahub, stat20)`},
		{func() error { _, err := r.Hub("../x"); return err }(), `hub "../x" not found`},
	} {
		if tc.got == nil || !strings.HasPrefix(tc.got.Error(), tc.want) {
			t.Errorf("got  %v\nwant %s", tc.got, tc.want)
		}
	}
}

func TestOpenNotARepo(t *testing.T) {
	_, err := Open(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "has no deployments/ folder") {
		t.Fatalf("got %v", err)
	}
}

// Names helm or Kubernetes would refuse are found when the release is named, with
// the folder, file or key to change.
func TestReleaseAndNamespace(t *testing.T) {
	long := strings.Repeat("x", 50)
	for _, tc := range []struct {
		name, hub, env, config, namespace, want string
	}{
		{"env with capitals", "datahub", "Prod", "", "", `deployments/datahub/config/Prod.yaml: the environment's name makes the release "datahub-Prod", which helm and Kubernetes refuse (rename the file: a release name is`},
		{"hub with underscore", "Data_Hub", "prod", "", "", `deployments/Data_Hub: the hub's folder name makes the release "Data_Hub-prod"`},
		{"namespace template", "datahub", "prod", "deploy:\n  namespace: '{hub}.{env}'\n", "", `deployments/datahub/hubploy.yaml: key "deploy.namespace": "{hub}.{env}" makes the namespace "datahub.prod", which helm and Kubernetes refuse (set deploy.namespace to a shorter or valid template`},
		{"release too long", long, "prod", "", "", `deployments/` + long + `/hubploy.yaml: key "deploy.release": "{hub}-{env}" makes the release "` + long + `-prod"`},
		{"namespace given", "datahub", "prod", "", "Bad_NS", `key "namespace": "Bad_NS" is not a namespace Kubernetes accepts`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := makeRepo(t, "deployments/"+tc.hub+"/config/"+tc.env+".yaml")
			if err := os.WriteFile(filepath.Join(root, "deployments", tc.hub, "hubploy.yaml"), []byte(tc.config), 0o644); err != nil {
				t.Fatal(err)
			}
			r, _ := Open(root)
			h, err := r.Hub(tc.hub)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = h.ReleaseAndNamespace(tc.env, tc.namespace)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
	root := makeRepo(t, "deployments/datahub/hubploy.yaml", "deployments/datahub/config/prod.yaml")
	r, _ := Open(root)
	h, _ := r.Hub("datahub")
	if rel, ns, err := h.ReleaseAndNamespace("prod", ""); rel != "datahub-prod" || ns != "datahub-prod" || err != nil {
		t.Fatalf("got %s %s %v", rel, ns, err)
	}
}
