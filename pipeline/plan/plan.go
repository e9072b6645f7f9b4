// Package plan says what a change to a deployment repository must deploy: which hubs in
// which environments, and which images must be built first, each with the changed
// files that make it so. The rules (Make) are pure, over a list of changed files and
// the repository's layout (its hubs, their environments and image folders, the
// umbrella chart); ReadLayout reads that layout from disk and Changes the list from git.
package plan

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/repo"
)

// Layout is what of a repository the rules look at. Paths are relative to the
// repository's root, with slashes.
type Layout struct {
	// Charts are the umbrella chart's folder and the local charts it depends on
	// (file:// repositories): every hub renders them.
	Charts []string
	// Shared are other files or folders every hub reads: values files given on top
	// of the repository's, local chart mirrors.
	Shared []string
	Hubs   []Hub
}

// Hub is one deployments/<name>/ folder with a hubploy.yaml.
type Hub struct {
	Name   string
	Envs   []string
	Images []Image // the images hubploy builds from a folder of the hub
}

// Image is an image built from a folder.
type Image struct {
	Name   string // without tag
	Folder string
}

// Plan is what to deploy and build, and why.
type Plan struct {
	// Base and Head are the commits compared (Base the merge base), when the changed
	// files came from git.
	Base string `json:"base,omitempty"`
	Head string `json:"head,omitempty"`
	// Env is the one environment the plan is limited to; empty: all of them.
	Env string `json:"env,omitempty"`
	// Everything says why every hub deploys and every image builds whatever the
	// files say, when no list of files can tell (a force-push).
	Everything string `json:"everything,omitempty"`
	// Changed are the changed files the plan was made from.
	Changed []string `json:"changed"`
	Deploys []Deploy `json:"deploys"`
	Builds  []Build  `json:"builds"`
	// Present are the images the registry was asked about that it has, with the tag
	// their folder makes: nothing to build (see WithRegistry).
	Present []Build `json:"present,omitempty"`
	// Unaffected are the changed files no deploy or build depends on.
	Unaffected []Unaffected `json:"unaffected"`
}

// Deploy is one hub in one environment, and the changed files that make it deploy.
type Deploy struct {
	Hub   string   `json:"hub"`
	Env   string   `json:"env"`
	Files []string `json:"files"`
}

// Build is one image to build, and the changed files of its folder.
type Build struct {
	Hub    string   `json:"hub"`
	Image  string   `json:"image"`
	Folder string   `json:"folder"`
	Files  []string `json:"files"`
	// Tag is the tag the folder makes, when the registry was asked about it.
	Tag string `json:"tag,omitempty"`
	// Why says why an image whose folder did not change is built.
	Why string `json:"why,omitempty"`
}

// InRegistry is an image built from a folder, with the tag its folder makes and
// whether the registry has that tag.
type InRegistry struct {
	Hub, Image, Folder, Tag string
	Present                 bool
}

// WithRegistry makes the builds exact by asking the registry: content tags name a
// folder's content, so an image needs building if and only if the registry lacks its
// tag, whatever the changed files (a shallow clone, a build that failed last time). An
// image the files planned whose tag is present moves to Present; one they did not plan
// whose tag is absent is built, and says why.
func (p *Plan) WithRegistry(imgs []InRegistry) {
	planned := map[string]Build{}
	for _, b := range p.Builds {
		planned[b.Image] = b
	}
	p.Builds = []Build{}
	for _, img := range imgs {
		b, ok := planned[img.Image]
		if !ok {
			b = Build{Hub: img.Hub, Image: img.Image, Folder: img.Folder, Files: []string{}, Why: "tag " + img.Tag + " is not in the registry"}
		}
		b.Tag = img.Tag
		if img.Present {
			b.Why = "tag " + img.Tag + " is in the registry"
			p.Present = append(p.Present, b)
			continue
		}
		p.Builds = append(p.Builds, b)
	}
}

// Unaffected is a changed file that changes nothing hubploy deploys, and why.
type Unaffected struct {
	File string `json:"file"`
	Why  string `json:"why"`
}

// Make applies the rules to each changed file:
//   - a file of the umbrella chart, of a local chart it depends on, or of the shared
//     values: every hub in every environment;
//   - a file of a hub's image folder: that image is built, and the hub deploys;
//   - deployments/<hub>/config/<env>.yaml or secrets/<env>.yaml, and the root's
//     secrets/deployments/<hub>/secrets/<env>.yaml: that hub in that environment;
//   - any other file of deployments/<hub>/ but documentation: that hub everywhere;
//   - anything else (documentation, CI configuration, files neither hubploy nor the
//     chart reads): nothing.
func Make(l *Layout, changed []string) *Plan {
	p := newPlan(changed)
	type key struct{ hub, name string }
	deploys := map[key][]string{}
	builds := map[key][]string{}
	deploy := func(hub *Hub, env, file string) {
		envs := hub.Envs
		if env != "" {
			envs = []string{env}
		}
		for _, e := range envs {
			deploys[key{hub.Name, e}] = append(deploys[key{hub.Name, e}], file)
		}
	}
	for _, f := range p.Changed {
		hub, image, env, why := l.classify(f)
		switch {
		case why != "":
			p.Unaffected = append(p.Unaffected, Unaffected{File: f, Why: why})
		case hub == nil:
			for i := range l.Hubs {
				deploy(&l.Hubs[i], "", f)
			}
		default:
			if image != nil {
				builds[key{hub.Name, image.Name}] = append(builds[key{hub.Name, image.Name}], f)
			}
			deploy(hub, env, f)
		}
	}
	for _, h := range l.Hubs {
		for _, env := range h.Envs {
			if files := deploys[key{h.Name, env}]; files != nil {
				p.Deploys = append(p.Deploys, Deploy{Hub: h.Name, Env: env, Files: files})
			}
		}
		for _, img := range h.Images {
			if files := builds[key{h.Name, img.Name}]; files != nil {
				p.Builds = append(p.Builds, Build{Hub: h.Name, Image: img.Name, Folder: img.Folder, Files: files})
			}
		}
	}
	return p
}

// Everything is the plan that deploys every hub in every environment and builds every
// image, for the reason given.
func Everything(l *Layout, changed []string, reason string) *Plan {
	p := newPlan(changed)
	p.Everything = reason
	for _, h := range l.Hubs {
		for _, env := range h.Envs {
			p.Deploys = append(p.Deploys, Deploy{Hub: h.Name, Env: env, Files: []string{}})
		}
		for _, img := range h.Images {
			p.Builds = append(p.Builds, Build{Hub: h.Name, Image: img.Name, Folder: img.Folder, Files: []string{}})
		}
	}
	return p
}

func newPlan(changed []string) *Plan {
	files := append([]string{}, changed...) // never nil: JSON says [] for none
	slices.Sort(files)
	return &Plan{Changed: slices.Compact(files), Deploys: []Deploy{}, Builds: []Build{}, Unaffected: []Unaffected{}}
}

// classify says what file f is to the rules: a file of hub (of its environment env
// only, or of all of them when env is empty; of image when in an image folder); a
// file of every hub (hub nil, why empty); or a file that changes nothing, and why.
func (l *Layout) classify(f string) (hub *Hub, image *Image, env, why string) {
	for _, dir := range slices.Concat(l.Charts, l.Shared) {
		if within(f, dir) {
			return nil, nil, "", ""
		}
	}
	parts := strings.Split(f, "/")
	if len(parts) >= 4 && parts[0] == "secrets" && parts[1] == repo.DeploymentsDir {
		// The root's secrets/deployments/<hub>/secrets/<env>.yaml: hubploy reads
		// nothing else there.
		hub := l.hub(parts[2])
		if hub == nil {
			return nil, nil, "", "no hub " + parts[2] + " to deploy"
		}
		if env, ok := hub.envFile(parts[3:]); ok && parts[3] == "secrets" {
			return hub, nil, env, ""
		}
		return nil, nil, "", "hubploy reads only secrets/<env>.yaml of the hub's environments there"
	}
	if len(parts) < 3 || parts[0] != repo.DeploymentsDir {
		return nil, nil, "", unread(f)
	}
	hub = l.hub(parts[1])
	if hub == nil {
		return nil, nil, "", "no hub " + parts[1] + " to deploy (no " + path.Join(parts[0], parts[1], "hubploy.yaml") + ")"
	}
	for i := range hub.Images {
		if within(f, hub.Images[i].Folder) {
			return hub, &hub.Images[i], "", ""
		}
	}
	if isDoc(f) {
		return nil, nil, "", "documentation"
	}
	if env, ok := hub.envFile(parts[2:]); ok {
		return hub, nil, env, ""
	}
	if len(parts) == 4 && parts[2] == "config" && path.Ext(f) == ".yaml" && parts[3] != "common.yaml" {
		return nil, nil, "", "hub " + hub.Name + " has no environment " + strings.TrimSuffix(parts[3], ".yaml") + " (any more)"
	}
	return hub, nil, "", ""
}

func (l *Layout) hub(name string) *Hub {
	for i := range l.Hubs {
		if l.Hubs[i].Name == name {
			return &l.Hubs[i]
		}
	}
	return nil
}

// envFile says whether rest, a path under the hub's folder, is config/<env>.yaml or
// secrets/<env>.yaml of one of its environments.
func (h *Hub) envFile(rest []string) (string, bool) {
	if len(rest) != 2 || (rest[0] != "config" && rest[0] != "secrets") {
		return "", false
	}
	env, ok := strings.CutSuffix(rest[1], ".yaml")
	return env, ok && slices.Contains(h.Envs, env)
}

// within says whether path f is dir or under it.
func within(f, dir string) bool {
	return dir == "." || f == dir || strings.HasPrefix(f, strings.TrimSuffix(dir, "/")+"/")
}

func isDoc(f string) bool {
	ext := strings.ToLower(path.Ext(f))
	return ext == ".md" || ext == ".rst" || strings.HasPrefix(strings.ToUpper(path.Base(f)), "LICENSE")
}

// unread says why a file outside deployments/ and the chart changes nothing.
func unread(f string) string {
	top, _, _ := strings.Cut(f, "/")
	switch {
	case isDoc(f) || top == "docs":
		return "documentation"
	case slices.Contains([]string{".github", ".circleci", ".gitlab", ".gitlab-ci.yml", ".ci", "ci"}, top):
		return "CI configuration"
	}
	return "neither hubploy nor the chart reads it"
}

// ForEnv keeps what env needs: its deploys, and the builds of the hubs it deploys.
func (p *Plan) ForEnv(env string) *Plan {
	out := *p
	out.Env = env
	out.Deploys = slices.DeleteFunc(slices.Clone(p.Deploys), func(d Deploy) bool { return d.Env != env })
	hubs := out.Hubs(env)
	out.Builds = slices.DeleteFunc(slices.Clone(p.Builds), func(b Build) bool { return !slices.Contains(hubs, b.Hub) })
	return &out
}

// Hubs names the hubs the plan deploys in env, sorted.
func (p *Plan) Hubs(env string) []string {
	var hubs []string
	for _, d := range p.Deploys {
		if d.Env == env {
			hubs = append(hubs, d.Hub)
		}
	}
	slices.Sort(hubs)
	return slices.Compact(hubs)
}

// Read reads a plan that `hubploy plan -o json` wrote.
func Read(file string) (*Plan, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &inputerr.Error{File: file, Msg: "cannot read the plan: " + err.Error(), Hint: readHint, Err: err}
	}
	return Parse(data, file)
}

const readHint = "write it with hubploy plan -o json"

// Parse reads a plan from what `hubploy plan -o json` wrote; display names it in errors.
func Parse(data []byte, display string) (*Plan, error) {
	var p Plan
	err := json.Unmarshal(data, &p)
	if err == nil && p.Deploys == nil {
		err = errors.New(`it has no "deploys"`)
	}
	if err != nil {
		return nil, &inputerr.Error{File: display, Msg: "is not a plan hubploy wrote: " + err.Error(), Hint: readHint, Err: err}
	}
	return &p, nil
}

// ReadFileList reads a list of changed files, one a line, relative to the repository's
// root, as CI systems give one (`./` before a path, blank lines and CRLF line ends are
// allowed); display names the list in errors.
func ReadFileList(r io.Reader, display string) ([]string, error) {
	var files []string
	s := bufio.NewScanner(r)
	for n := 1; s.Scan(); n++ {
		line := strings.TrimSpace(s.Text())
		if line == "" {
			continue
		}
		f := path.Clean(line)
		if path.IsAbs(f) || f == ".." || strings.HasPrefix(f, "../") {
			return nil, &inputerr.Error{File: display, Line: n, Msg: fmt.Sprintf("%q is not a path in the repository", line),
				Hint: "list the changed files relative to the repository's root, as git diff --name-only does"}
		}
		files = append(files, f)
	}
	if err := s.Err(); err != nil {
		return nil, &inputerr.Error{File: display, Msg: "cannot read the list of changed files: " + err.Error(), Err: err}
	}
	return files, nil
}
