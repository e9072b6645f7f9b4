package images

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"
	"gopkg.in/yaml.v3"

	"github.com/hubploy/hubploy/pipeline/hubconfig"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/strictyaml"
)

// PinsFile is the file in a hub's folder that pins images per environment (hubploy
// issue #126), e.g. so that prod keeps the tag staging was last verified with:
//
//	prod:
//	  registry.example.org/datahub/user-image: 3f2a9c1b4d5e
//
// An environment not in it deploys the images as their folders or names give them.
const PinsFile = "image-pins.yaml"

const pinsHeader = `Image tags pinned per environment: an environment listed here deploys these tags
instead of the ones hubploy computes from the image folders. Written by
` + "`hubploy images promote <hub> --from <env> --to <env>`" + `; review it like any change.`

// pins maps environment → image name → tag.
type pins map[string]map[string]string

func (p pins) tag(env, image string) string {
	if env == "" {
		return ""
	}
	return p[env][image]
}

// pinsFile is a hub's pins file as read, kept as a YAML node tree so that it can be
// written back with its comments and layout.
type pinsFile struct {
	path, display string
	doc           yaml.Node
	pins          pins
}

func readPins(h *repo.Hub) (pins, error) {
	f, err := loadPins(h)
	if err != nil {
		return nil, err
	}
	return f.pins, nil
}

func loadPins(h *repo.Hub) (*pinsFile, error) {
	f := &pinsFile{path: h.Path(PinsFile), pins: pins{}}
	f.display = h.Repo.Rel(f.path)
	data, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, &inputerr.Error{File: f.display, Msg: "cannot read: " + err.Error(), Err: err}
	}
	doc, err := strictyaml.Parse(f.display, data) // one document, no key set twice
	if err != nil {
		return nil, err
	}
	if f.doc = *doc; f.doc.Kind == 0 {
		return f, nil
	}
	envs, err := h.Environments()
	if err != nil {
		return nil, err
	}
	names := imageNames(h)
	root := f.doc.Content[0]
	if root.Tag == "!!null" {
		return f, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, f.errorAt(root, "", "must map environments to image names and tags", "see hubploy's README")
	}
	for i := 0; i < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		env := k.Value
		if !slices.Contains(envs, env) {
			return nil, f.errorAt(k, env, fmt.Sprintf("hub %q has no environment %q: there is no %s", h.Name, env, h.Repo.Rel(h.Path("config", env+".yaml"))), strictyaml.SuggestHint(env, envs, "environments"))
		}
		f.pins[env] = map[string]string{}
		if v.Tag == "!!null" {
			continue
		}
		if v.Kind != yaml.MappingNode {
			return nil, f.errorAt(v, env, "must map image names to tags", "write image-name: tag lines under it")
		}
		for j := 0; j < len(v.Content); j += 2 {
			ik, iv := v.Content[j], v.Content[j+1]
			key := env + "." + ik.Value
			if !slices.Contains(names, ik.Value) {
				return nil, f.errorAt(ik, key, "is not an image of the hub's hubploy.yaml", strictyaml.SuggestHint(ik.Value, names, "images"))
			}
			if iv.Kind != yaml.ScalarNode || iv.Value == "" {
				return nil, f.errorAt(iv, key, "must be a tag", "write the tag, e.g. 3f2a9c1b4d5e")
			}
			if _, err := name.NewTag(ik.Value + ":" + iv.Value); err != nil {
				return nil, f.errorAt(iv, key, fmt.Sprintf("invalid tag %q", iv.Value), "a tag is letters, digits, '_', '.' and '-', at most 128")
			}
			f.pins[env][ik.Value] = iv.Value
		}
	}
	return f, nil
}

func (f *pinsFile) errorAt(n *yaml.Node, key, msg, hint string) error {
	return &inputerr.Error{File: f.display, Line: n.Line, Key: key, Msg: msg, Hint: hint}
}

// imageNames are the names, without tags, of the hub's images.
func imageNames(h *repo.Hub) []string {
	var names []string
	for _, c := range h.Config.ImageList() {
		n, _ := hubconfig.SplitTag(c.Name)
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// Change is one image pinned by Promote.
type Change struct {
	Name     string
	Tag      string // pinned: the tag the source environment deploys
	Previous string // the tag the target environment deployed before
	Written  bool   // false when the pin was already in the file
}

// Promote pins, for env to, each of the hub's images to the tag env from deploys, in
// the hub's PinsFile, keeping the file's comments and layout. Nothing is written when
// every pin is already there. It does not look at the registry: callers check that
// the images exist first (Check).
func Promote(h *repo.Hub, from, to string) ([]Change, error) {
	if from == to {
		return nil, &inputerr.Error{Msg: fmt.Sprintf("cannot promote %s to itself", from), Hint: "give two environments, e.g. --from staging --to prod"}
	}
	src, err := Resolve(h, from)
	if err != nil {
		return nil, err
	}
	dst, err := Resolve(h, to)
	if err != nil {
		return nil, err
	}
	if len(src) == 0 {
		return nil, &inputerr.Error{File: h.Config.File, Key: "images", Msg: fmt.Sprintf("hub %q has no images to promote", h.Name), Hint: "images are listed in hubploy.yaml"}
	}
	f, err := loadPins(h)
	if err != nil {
		return nil, err
	}
	var changes []Change
	tags := map[string]string{}
	for i, img := range src {
		if t, ok := tags[img.Name]; ok {
			if t != img.Tag {
				return nil, &inputerr.Error{File: h.Config.File, Key: img.Config.Key, Msg: fmt.Sprintf("two images named %s have different tags (%s, %s), and a pin is per name", img.Name, t, img.Tag),
					Hint: "give each image its own name"}
			}
			continue
		}
		tags[img.Name] = img.Tag
		changes = append(changes, Change{Name: img.Name, Tag: img.Tag, Previous: dst[i].Tag, Written: f.pins[to][img.Name] != img.Tag})
	}
	var write bool
	for _, c := range changes {
		write = write || c.Written
	}
	if !write {
		return changes, nil
	}
	return changes, f.write(to, changes)
}

// write sets env's pins in the node tree and writes the file.
func (f *pinsFile) write(env string, changes []Change) error {
	if f.doc.Kind == 0 {
		f.doc = yaml.Node{Kind: yaml.DocumentNode, HeadComment: pinsHeader, Content: []*yaml.Node{{Kind: yaml.MappingNode}}}
	}
	root := f.doc.Content[0]
	if root.Kind != yaml.MappingNode { // an empty (null) document
		*root = yaml.Node{Kind: yaml.MappingNode, HeadComment: root.HeadComment, FootComment: root.FootComment}
	}
	envMap := mapValue(root, env)
	for _, c := range changes {
		v := mapValue(envMap, c.Name)
		// A tag of digits is a number to YAML; !!str makes the encoder quote it.
		*v = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: c.Tag, Style: v.Style & (yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle),
			LineComment: v.LineComment, HeadComment: v.HeadComment, FootComment: v.FootComment}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&f.doc); err != nil {
		return fmt.Errorf("%s: %w", f.display, err)
	}
	mode := os.FileMode(0o644)
	if info, err := os.Stat(f.path); err == nil {
		mode = info.Mode().Perm()
	}
	if err := os.WriteFile(f.path, buf.Bytes(), mode); err != nil {
		return &inputerr.Error{File: f.display, Msg: "cannot write: " + err.Error(), Err: err}
	}
	return nil
}

// mapValue returns the value node of key in mapping m, adding an empty mapping under
// key at the end when there is none (or a null).
func mapValue(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			if v.Tag == "!!null" {
				*v = yaml.Node{Kind: yaml.MappingNode, LineComment: v.LineComment}
			}
			return v
		}
	}
	v := &yaml.Node{Kind: yaml.MappingNode}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
	return v
}
