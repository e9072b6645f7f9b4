package strictyaml

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// MaxAliasedValues bounds the values that aliases may add to a document. Nested aliases
// (a "billion laughs") expand exponentially; yaml.v3 stops them at about the same count.
const MaxAliasedValues = 400_000

// Values parses data (read from file) as a mapping of helm values, the way yaml.v3
// decodes one into map[string]any (scalars are resolved by yaml.v3 itself), in time
// linear in the document's size: yaml.v3's own decoding compares every key of a mapping
// with every other, so a mapping of a few hundred thousand keys takes minutes. Keys are
// strings, as helm reads values. Duplicate keys, a second document, aliases that expand
// too far and a document that is not a mapping are *inputerr.Error naming file and line.
func Values(file string, data []byte) (map[string]any, error) {
	root, err := Parse(file, data)
	if err != nil {
		return nil, err
	}
	top := root
	if top.Kind == yaml.DocumentNode && len(top.Content) > 0 {
		top = top.Content[0]
	}
	switch {
	case top.Kind == 0 || top.Kind == yaml.DocumentNode || top.ShortTag() == "!!null":
		return map[string]any{}, nil // an empty file, or one of only comments
	case top.Kind != yaml.MappingNode:
		return nil, &inputerr.Error{File: file, Line: top.Line, Msg: "is not a mapping of keys", Hint: "a values file is key: value lines"}
	}
	c := &converter{file: file, expanding: map[*yaml.Node]bool{}}
	v, err := c.mapping(top, "")
	if err != nil {
		return nil, err
	}
	return v, nil
}

// converter turns a node tree into values, counting what aliases add.
type converter struct {
	file      string
	aliasing  int // depth of alias expansion the converter is in
	aliased   int // values made while expanding aliases
	expanding map[*yaml.Node]bool
}

func (c *converter) value(n *yaml.Node, path string) (any, error) {
	if c.aliasing > 0 {
		if c.aliased++; c.aliased > MaxAliasedValues {
			return nil, &inputerr.Error{File: c.file, Line: n.Line, Key: path,
				Msg:  fmt.Sprintf("aliases expand to more than %d values", MaxAliasedValues),
				Hint: "write the values out, or nest fewer aliases"}
		}
	}
	switch n.Kind {
	case yaml.AliasNode:
		if c.expanding[n] {
			return nil, &inputerr.Error{File: c.file, Line: n.Line, Key: path, Msg: fmt.Sprintf("alias *%s is inside its own anchor", Clip(n.Value)), Hint: "an anchor cannot hold itself"}
		}
		c.expanding[n] = true
		c.aliasing++
		v, err := c.value(n.Alias, path)
		c.aliasing--
		delete(c.expanding, n)
		return v, err
	case yaml.MappingNode:
		return c.mapping(n, path)
	case yaml.SequenceNode:
		list := make([]any, len(n.Content))
		for i, item := range n.Content {
			v, err := c.value(item, index(path, i))
			if err != nil {
				return nil, err
			}
			list[i] = v
		}
		return list, nil
	default:
		var v any
		if err := n.Decode(&v); err != nil {
			e := yamlError(c.file, err, "fix the value's type")
			e.Line, e.Key = n.Line, path // one scalar's error names no line
			return nil, e
		}
		return v, nil
	}
}

// mapping converts a mapping, whose keys Parse found unique; keys written in it win
// over merged ones ("<<: *anchor"), and of merged mappings the first wins, as in yaml.v3.
func (c *converter) mapping(n *yaml.Node, path string) (map[string]any, error) {
	m := make(map[string]any, len(n.Content)/2)
	var merge *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k.Kind != yaml.ScalarNode {
			return nil, &inputerr.Error{File: c.file, Line: n.Content[i].Line, Key: path, Msg: "has a key that is a mapping or a list", Hint: "keys are plain strings"}
		}
		if k.ShortTag() == "!!merge" {
			merge = n.Content[i+1]
			continue
		}
		v, err := c.value(n.Content[i+1], join(path, k.Value))
		if err != nil {
			return nil, err
		}
		m[k.Value] = v
	}
	if merge == nil {
		return m, nil
	}
	sources := []*yaml.Node{merge}
	if merge.Kind == yaml.SequenceNode {
		sources = merge.Content
	}
	for _, s := range sources {
		v, err := c.value(s, path)
		if err != nil {
			return nil, err
		}
		merged, ok := v.(map[string]any)
		if !ok {
			return nil, &inputerr.Error{File: c.file, Line: s.Line, Key: join(path, "<<"), Msg: "merges something that is not a mapping", Hint: "<< takes a mapping, an alias of one, or a list of them"}
		}
		for k, v := range merged {
			if _, ok := m[k]; !ok {
				m[k] = v
			}
		}
	}
	return m, nil
}
