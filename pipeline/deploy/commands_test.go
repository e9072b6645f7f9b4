package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hubploy/hubploy/pipeline/release"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/values"
)

func TestCommands(t *testing.T) {
	r := &repo.Repo{Root: "/srv/hubs"}
	rel := &release.Release{
		Hub: &repo.Hub{Repo: r, Name: "datahub"}, Env: "prod", Name: "datahub-prod", Namespace: "datahub-prod", ChartDir: "/srv/hubs/hub",
		Values: &values.Result{Layers: []values.Layer{
			{Source: "deployments/datahub/config/common.yaml"},
			{Source: "deployments/datahub/secrets/prod.yaml", Secret: true},
			{Source: "--set jupyterhub.singleuser.defaultUrl=/lab"},
			{Source: "image jupyterhub.singleuser.image"},
		}},
		Images: []values.Image{{Path: "jupyterhub.singleuser.image", Name: "registry.example.org/datahub/user-image", Tag: "3f2a9c1b4d5e"}},
	}
	head := "# datahub/prod, from the repository root /srv/hubs\nhelm dependency build hub\nhelm upgrade --install datahub-prod hub \\\n" +
		"    --namespace datahub-prod --create-namespace --wait \\\n    --timeout 30m0s \\\n"
	tail := "    -f deployments/datahub/config/common.yaml \\\n    -f <(sops --decrypt deployments/datahub/secrets/prod.yaml) \\\n" +
		"    --set jupyterhub.singleuser.defaultUrl=/lab \\\n" +
		"    --set-string jupyterhub.singleuser.image.name=registry.example.org/datahub/user-image,jupyterhub.singleuser.image.tag=3f2a9c1b4d5e\n"
	u := &Upgrade{Timeout: 30 * time.Minute, Atomic: true}
	for _, tc := range []struct {
		name   string
		target CommandTarget
		middle string
	}{
		{"helm's kubeconfig", CommandTarget{}, "    --atomic \\\n"},
		{"a context", CommandTarget{KubeContext: "nautilus-datahub-prod"}, "    --kube-context nautilus-datahub-prod \\\n    --atomic \\\n"},
		{"a plain kubeconfig", CommandTarget{Kubeconfig: "my kube.yaml", KubeContext: "kind"}, "    --kubeconfig 'my kube.yaml' \\\n    --kube-context kind \\\n    --atomic \\\n"},
		{"an encrypted kubeconfig", CommandTarget{Kubeconfig: "deployments/datahub/secrets/kubeconfig.yaml", KubeconfigEncrypted: true},
			"    --kubeconfig <(sops --decrypt deployments/datahub/secrets/kubeconfig.yaml) \\\n    --atomic \\\n"},
	} {
		if got, want := u.Commands(rel, tc.target), head+tc.middle+tail; got != want {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.name, got, want)
		}
	}
}

// Names from the repository and the user reach helm as they are, however hostile, when
// the commands are run by a shell, and run nothing themselves.
func TestCommandsQuoteEveryWord(t *testing.T) {
	dir := t.TempDir()
	hostile := func(what string) string {
		return what + " $(touch pwned) `touch pwned` ; touch pwned 'q' \"d\" \\ \n touch pwned"
	}
	r := &repo.Repo{Root: filepath.Join(dir, hostile("root"))}
	rel := &release.Release{
		Hub: &repo.Hub{Repo: r, Name: hostile("hub")}, Env: hostile("env"), Name: hostile("release"), Namespace: hostile("namespace"),
		ChartDir: filepath.Join(r.Root, hostile("chart")),
		Values: &values.Result{Layers: []values.Layer{
			{Source: hostile("values.yaml")},
			{Source: hostile("secret.yaml"), Secret: true},
			{Source: "--set " + hostile("a=b")},
		}},
		Images: []values.Image{{Path: hostile("path"), Name: "n", Tag: "t"}},
	}
	script := (&Upgrade{}).Commands(rel, CommandTarget{Kubeconfig: hostile("kubeconfig"), KubeContext: hostile("context")})
	stub := "helm() { printf '%s\\0' \"$@\" >>\"$ARGS\"; }\nsops() { :; }\n"
	cmd := exec.Command("bash", "-c", stub+script)
	cmd.Dir, cmd.Env = dir, []string{"ARGS=" + filepath.Join(dir, "args"), "PATH=/usr/bin:/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s\n%s", err, out, script)
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Fatalf("a name ran a command:\n%s", script)
	}
	data, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(string(data), "\x00")
	for _, want := range []string{rel.Name, rel.Namespace, hostile("chart"), hostile("values.yaml"), hostile("a=b"), hostile("kubeconfig"), hostile("context")} {
		if !slices.Contains(args, want) {
			t.Errorf("helm did not get %q as one word:\n%q", want, args)
		}
	}
}
