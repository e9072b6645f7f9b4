package action

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/registrytest"
	"github.com/hubploy/hubploy/pipeline/images"
)

// A deploy asks the registry for the image tags the release sets before it touches the
// cluster: the kubeconfig here names an address that refuses, so reaching the cluster
// shows as "cannot reach the cluster".
func TestDeployChecksImages(t *testing.T) {
	reg := registrytest.Serve(t, "", "")
	var logged strings.Builder
	c := config(t, func(s *Settings) {
		s.Log = func(format string, args ...any) { fmt.Fprintf(&logged, format+"\n", args...) }
	})
	hubDir := filepath.Join(c.Settings.RepoDir, "deployments/datahub")
	rewrite(t, filepath.Join(hubDir, "hubploy.yaml"), "registry.example.org", reg.Host)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600)
	h, err := c.hub("datahub")
	if err != nil {
		t.Fatal(err)
	}
	imgs, err := images.Resolve(h, "staging")
	if err != nil || len(imgs) != 1 {
		t.Fatalf("images: %v %v", imgs, err)
	}
	ref := imgs[0].Ref()
	deploy := func(edit func(d *Deploy)) error {
		d := &Deploy{Config: c, Targets: Targets{Env: "staging", Hubs: []string{"datahub"}}, Cluster: ClusterOptions{KubeconfigFile: kubeconfig}}
		if edit != nil {
			edit(d)
		}
		rep, err := d.Run(context.Background())
		if err != nil {
			return err
		}
		return rep.Err() // the cluster's refusal is a deploy's failure, in its row
	}
	const atCluster = "cannot reach the cluster"

	err = deploy(nil)
	if err == nil || strings.Contains(err.Error(), atCluster) ||
		!strings.Contains(err.Error(), "image "+ref+" is not in the registry") || !strings.Contains(err.Error(), "hubploy build datahub --push") {
		t.Fatalf("missing tag: %v", err)
	}
	logged.Reset()
	if err = deploy(func(d *Deploy) { d.Upgrade.DryRun = true }); err == nil || !strings.Contains(err.Error(), atCluster) ||
		!strings.Contains(logged.String(), "datahub/staging: warning: image "+ref+" is not in the registry") {
		t.Fatalf("a dry run only warns: %v\n%s", err, logged.String())
	}
	if err = deploy(func(d *Deploy) { d.SkipImageCheck = true }); err == nil || !strings.Contains(err.Error(), atCluster) {
		t.Fatalf("--skip-image-check: %v", err)
	}
	reg.Push(t, ref)
	if err = deploy(nil); err == nil || !strings.Contains(err.Error(), atCluster) {
		t.Fatalf("present tag: %v", err)
	}

	// A pin the registry lacks says where the pin is.
	pins := fmt.Sprintf("staging:\n  %s/datahub/user-image: gone\n", reg.Host)
	os.WriteFile(filepath.Join(hubDir, images.PinsFile), []byte(pins), 0o644)
	c = config(t, func(s *Settings) { s.RepoDir = c.Settings.RepoDir })
	if err = deploy(nil); err == nil || !strings.Contains(err.Error(), "image "+reg.Host+"/datahub/user-image:gone is not in the registry: image-pins.yaml pins it") {
		t.Fatalf("pin: %v", err)
	}

	// A registry hubploy cannot reach fails the deploy, and says how to skip the check.
	os.Remove(filepath.Join(hubDir, images.PinsFile))
	rewrite(t, filepath.Join(hubDir, "hubploy.yaml"), reg.Host, "127.0.0.1:1")
	c = config(t, func(s *Settings) { s.RepoDir = c.Settings.RepoDir })
	if err = deploy(nil); err == nil || strings.Contains(err.Error(), atCluster) ||
		!strings.Contains(err.Error(), "cannot check that the registry has image 127.0.0.1:1/datahub/user-image:") || !strings.Contains(err.Error(), "--skip-image-check") {
		t.Fatalf("unreachable registry: %v", err)
	}
}

func rewrite(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(data), old) {
		t.Fatalf("%s has no %q: %v", path, old, err)
	}
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(data), old, new)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// deploy --plan deploys the hubs the plan lists for the environment, read through the
// plan's own JSON as `hubploy plan -o json` writes it.
func TestTargetsFromAPlan(t *testing.T) {
	var logged strings.Builder
	c := config(t, func(s *Settings) {
		s.Log = func(format string, args ...any) { fmt.Fprintf(&logged, format+"\n", args...) }
	})
	made, err := (&Plan{Config: c, ChangedFiles: []string{"deployments/datahub/config/staging.yaml"}}).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(made)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "plan.json")
	os.WriteFile(file, data, 0o644)

	if hubs, err := c.hubs(Targets{Env: "staging", PlanFile: file}); err != nil || !slices.Equal(hubs, []string{"datahub"}) {
		t.Errorf("staging: %v, %v", hubs, err)
	}
	if hubs, err := c.hubs(Targets{Env: "prod", Plan: made}); err != nil || len(hubs) != 0 || !strings.Contains(logged.String(), "the plan deploys no hub in prod") {
		t.Errorf("prod: %v, %v, %q", hubs, err, logged.String())
	}
	if _, err := c.hubs(Targets{Env: "prod", Plan: made.ForEnv("staging")}); err == nil || err.Error() != "the plan: is a plan for staging, not prod (make the plan for prod, or without --env)" {
		t.Errorf("a plan for another environment: %v", err)
	}
	if _, err := c.hubs(Targets{Env: "staging", PlanFile: file, All: true}); err == nil || !strings.Contains(err.Error(), "one of the three") {
		t.Errorf("--all and a plan: %v", err)
	}
	os.WriteFile(file, []byte(`{"hubs": []}`), 0o644)
	if _, err := c.hubs(Targets{Env: "staging", PlanFile: file}); err == nil || !strings.Contains(err.Error(), `is not a plan hubploy wrote: it has no "deploys"`) {
		t.Errorf("not a plan: %v", err)
	}
}
