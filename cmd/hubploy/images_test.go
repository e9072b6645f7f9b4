package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/registrytest"
	"github.com/hubploy/hubploy/pipeline/imagetag"
)

// imagesRepo is a copy of the example whose datahub images live in the registry at
// host: user-image built from image/, and prebuilt, tagged in its name.
func imagesRepo(t *testing.T, host string) (repo, folderTag string) {
	t.Helper()
	home := t.TempDir() // no docker credentials of the user
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", home)
	repo = example.Copy(t)
	writeFile(t, repo, "deployments/datahub/hubploy.yaml", fmt.Sprintf(`images:
  images:
    - name: %s/datahub/user-image
      path: image
    - name: %s/datahub/prebuilt:v9
      helm_substitution_path: jupyterhub.hub.image
`, host, host))
	folderTag, err := imagetag.ContentTag(filepath.Join(repo, "deployments/datahub/image"), "image")
	if err != nil {
		t.Fatal(err)
	}
	return repo, folderTag
}

func TestImagesList(t *testing.T) {
	reg := registrytest.Serve(t, "", "")
	repo, tag := imagesRepo(t, reg.Host)
	reg.Push(t, reg.Host+"/datahub/user-image:"+tag)
	c := newCLI(t, repo)
	code, out, errOut := c.run("images", "list")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		`(?m)^HUB +IMAGE +TAG +SOURCE +REGISTRY$`,
		`(?m)^datahub +` + regexp.QuoteMeta(reg.Host) + `/datahub/user-image +` + tag + ` +content +present$`,
		`(?m)^datahub +` + regexp.QuoteMeta(reg.Host) + `/datahub/prebuilt +v9 +name +missing: nothing here builds it$`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(out, "stat20") {
		t.Errorf("stat20 has no images block, yet is listed:\n%s", out)
	}

	// Staging moves on (a changed folder needs a build); prod keeps its pin.
	writeFile(t, repo, "deployments/datahub/image-pins.yaml", "prod:\n  "+reg.Host+"/datahub/user-image: "+tag+"\n")
	appendFile(t, repo, "deployments/datahub/image/Dockerfile", "RUN true\n")
	code, out, _ = c.run("images", "list", "datahub", "--env", "staging", "-o", "json")
	var list struct {
		OK     bool             `json:"ok"`
		Images []map[string]any `json:"images"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != 0 || !list.OK || len(list.Images) != 2 {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	rows := list.Images
	if r := rows[0]; r["env"] != "staging" || r["tag"] == tag || r["exists"] != false || r["source"] != "content" ||
		r["context"] != "deployments/datahub/image" || r["dockerfile"] != "deployments/datahub/image/Dockerfile" || r["helm_substitution_path"] != "jupyterhub.singleuser.image" {
		t.Errorf("staging's changed image: %v", r)
	}
	_, out, _ = c.run("images", "list", "datahub", "--env", "prod", "-o", "json")
	list.Images = nil
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Images) == 0 {
		t.Fatalf("%v: %s", err, out)
	}
	if r := list.Images[0]; r["tag"] != tag || r["source"] != "pin" || r["exists"] != true || r["context"] != nil {
		t.Errorf("prod's pinned image: %v", r)
	}
}

// One registry that cannot be reached fails its images only: the other hub's listing
// stands, the error is one line, and the exit code says something went wrong.
func TestImagesListUnreachable(t *testing.T) {
	reg := registrytest.Serve(t, "", "")
	repo, tag := imagesRepo(t, reg.Host)
	reg.Push(t, reg.Host+"/datahub/user-image:"+tag)
	down := registrytest.Unreachable(t)
	appendFile(t, repo, "deployments/stat20/hubploy.yaml", "images:\n  images:\n    - name: "+down+"/stat20/user-image:v1\n")
	code, out, errOut := newCLI(t, repo).run("images", "list")
	if code != exitFailure {
		t.Errorf("exit %d", code)
	}
	// The table on stdout, the problem on stderr.
	want := fmt.Sprintf(`hubploy: error: stat20 %s/stat20/user-image:v1: deployments/stat20/hubploy.yaml: key "images.images[0].name": registry %s is unreachable: dial tcp %s: connect: connection refused (check the network, and the registry host in the image's name)`, down, down, down)
	if !strings.Contains(out, "user-image  "+tag+"  content  present\n") || !strings.Contains(out, "unknown (see the error)") || errOut != want+"\n" {
		t.Errorf("stdout:\n%s\nstderr:\n%s\nwant the line %s", out, errOut, want)
	}
}

func TestImagesPromote(t *testing.T) {
	reg := registrytest.Serve(t, "", "")
	repo, tag := imagesRepo(t, reg.Host)
	c := newCLI(t, repo)
	code, out, errOut := c.run("images", "promote", "datahub", "--from", "staging", "--to", "prod")
	want := fmt.Sprintf(`hubploy: error: deployments/datahub/hubploy.yaml: key "images.images[0].name": the registry has no %s/datahub/user-image:%s, which staging deploys (build and push it first, or pass --no-registry-check)`, reg.Host, tag)
	if code != exitInput || out != "" || strings.TrimSpace(errOut) != want {
		t.Fatalf("before the push: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(repo, "deployments/datahub/image-pins.yaml")); err == nil {
		t.Fatal("a failed promote wrote the pins file")
	}
	reg.Push(t, reg.Host+"/datahub/user-image:"+tag)
	reg.Push(t, reg.Host+"/datahub/prebuilt:v9")
	code, out, errOut = c.run("images", "promote", "datahub", "--from", "staging", "--to", "prod")
	if code != 0 || !strings.Contains(out, "prod: pinned "+reg.Host+"/datahub/user-image:"+tag+" (was "+tag+")\n") ||
		errOut != "hubploy: wrote deployments/datahub/image-pins.yaml: review and commit it\n" {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	// The image folder moves on: staging renders the new tag, prod the pinned one.
	appendFile(t, repo, "deployments/datahub/image/Dockerfile", "RUN true\n")
	_, prod, _ := c.run("render", "datahub", "prod")
	_, staging, _ := c.run("render", "datahub", "staging")
	if !strings.Contains(prod, "tag: "+tag) || strings.Contains(staging, "tag: "+tag) {
		t.Errorf("prod should keep tag %s and staging move on", tag)
	}
	code, out, _ = c.run("images", "promote", "datahub", "--from", "staging", "--to", "prod", "--no-registry-check")
	if code != 0 || !strings.Contains(out, "prod: pinned "+reg.Host+"/datahub/user-image:") || !strings.Contains(out, "(was "+tag+")") {
		t.Errorf("second promote: exit %d\n%s", code, out)
	}
}

func TestImagesBadInput(t *testing.T) {
	reg := registrytest.Serve(t, "", "")
	repo, _ := imagesRepo(t, reg.Host)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"images", "list", "datahb"}, `hub "datahb" not found: there is no deployments/datahb/hubploy.yaml (did you mean "datahub"?`},
		{[]string{"images", "list", "--env", "prd"}, `hub "datahub" has no environment "prd"`},
		{[]string{"images", "promote", "datahub", "--to", "prod"}, "--from and --to are required: usage: hubploy images promote HUB --from ENV --to ENV"},
		{[]string{"images", "promote", "datahub", "--from", "prod", "--to", "prod", "--no-registry-check"}, "cannot promote prod to itself"},
		{[]string{"images", "promote", "datahub", "--from", "staging", "--to", "prd", "--no-registry-check"}, `hub "datahub" has no environment "prd"`},
		{[]string{"images", "promote", "stat20", "--from", "staging", "--to", "prod", "--no-registry-check"}, `deployments/stat20/hubploy.yaml: key "images": hub "stat20" has no images to promote`},
	} {
		code, out, errOut := newCLI(t, repo).run(tc.args...)
		if tc.args[1] == "list" && strings.Contains(tc.want, "no environment") {
			// A hub without the environment is a finding of the listing, as in validate.
			if code != exitFailure || !strings.Contains(errOut, tc.want) || strings.Contains(out, "error") {
				t.Errorf("%v: exit %d\nstdout: %s\nstderr: %s", tc.args, code, out, errOut)
			}
			continue
		}
		if code != exitInput || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", tc.args, code, out, errOut)
		}
	}
}
