// Package strictyaml decodes YAML into Go structs and refuses keys the struct does not
// have, naming the file, the line, the key and the nearest known key.
package strictyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// Decode parses data (read from file) into out, a pointer to a struct. Unknown keys at
// any depth, malformed YAML and type mismatches are *inputerr.Error naming file and line.
func Decode(file string, data []byte, out any) error {
	root, err := Parse(file, data)
	if err != nil {
		return err
	}
	if root.Kind == 0 { // empty document
		return nil
	}
	k := &keyChecker{file: file, done: map[checked]bool{}}
	if err := k.check(root, reflect.TypeOf(out), ""); err != nil {
		return err
	}
	if err := root.Decode(out); err != nil {
		return Error(file, err, "fix the value's type")
	}
	return nil
}

// Parse reads the one document of data (read from file) and refuses a key set twice in
// a mapping, in time linear in its size. yaml.Unmarshal would silently drop a second
// document, and the keys in it with it: a second document is refused, unless it is
// empty (a trailing "---").
func Parse(file string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, syntaxError(file, data, err)
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		switch {
		case errors.Is(err, io.EOF):
			return &root, checkDuplicates(file, &root, "")
		case err != nil:
			return nil, syntaxError(file, data, err)
		case len(next.Content) != 1 || next.Content[0].ShortTag() != "!!null" || next.Content[0].Value != "":
			return nil, &inputerr.Error{File: file, Line: next.Line, Msg: "starts a second YAML document, which hubploy would ignore",
				Hint: "keep one document: remove the \"---\" line and merge the keys into the first"}
		}
	}
}

// checkDuplicates refuses a key set twice in one mapping, which yaml.v3 finds by
// comparing every key with every other: minutes for a mapping of 400,000 keys. Aliases
// are not followed: what they name is checked where it is written.
func checkDuplicates(file string, n *yaml.Node, path string) error {
	if n.Kind != yaml.MappingNode {
		for i, c := range n.Content {
			p := path
			if n.Kind == yaml.SequenceNode {
				p = index(path, i)
			}
			if err := checkDuplicates(file, c, p); err != nil {
				return err
			}
		}
		return nil
	}
	first := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k.Kind == yaml.ScalarNode {
			if line, dup := first[k.Value]; dup {
				return &inputerr.Error{File: file, Line: n.Content[i].Line, Key: join(path, k.Value),
					Msg: fmt.Sprintf("is set twice, first at line %d", line), Hint: "keep one of the two"}
			}
			first[k.Value] = n.Content[i].Line
		}
		if err := checkDuplicates(file, n.Content[i+1], join(path, k.Value)); err != nil {
			return err
		}
	}
	return nil
}

// resolve follows an alias to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// syntaxError is a YAML syntax error, with the line of the first character YAML does
// not allow when yaml.v3 names none ("control characters are not allowed").
func syntaxError(file string, data []byte, err error) error {
	e := yamlError(file, err, "fix the YAML syntax")
	if e.Line == 0 {
		if i := bytes.IndexFunc(data, notAllowed); i >= 0 {
			e.Line = bytes.Count(data[:i], []byte("\n")) + 1
		}
	}
	return e
}

// notAllowed reports the characters YAML does not allow in a document: the C0 and C1
// controls but tab, line feed, carriage return and next line; DEL; bytes that are not
// UTF-8; U+FFFE and U+FFFF.
func notAllowed(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == 0x85:
		return false
	case r < 0x20 || r >= 0x7f && r <= 0x9f:
		return true
	}
	return r == utf8.RuneError || r == 0xfffe || r == 0xffff
}

var lineRe = regexp.MustCompile(`line (\d+): `)

// Error turns a yaml.v3 error ("yaml: line 3: ...", or a list of unmarshal errors) into
// an input error naming file and line.
func Error(file string, err error, hint string) error {
	return yamlError(file, err, hint)
}

func yamlError(file string, err error, hint string) *inputerr.Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var typeErr *yaml.TypeError
	if errors.As(err, &typeErr) && len(typeErr.Errors) > 0 {
		msg = typeErr.Errors[0]
	}
	line := 0
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1]) // digits, by the regexp
		msg = strings.Replace(msg, m[0], "", 1)
	}
	// yaml.v3 quotes the value as it is: one with a line break would break the one line.
	msg = strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(msg)
	return &inputerr.Error{File: file, Line: line, Msg: msg, Hint: hint, Err: err}
}

// keyChecker walks the node tree beside the Go type and reports the first key that the
// type has no field for.
type keyChecker struct {
	file string
	// done holds the anchored nodes checked against a type, so that each is checked
	// once however often aliases name it (nested aliases would take exponential time).
	done map[checked]bool
}

type checked struct {
	n *yaml.Node
	t reflect.Type
}

func (k *keyChecker) check(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := k.check(c, t, path); err != nil {
				return err
			}
		}
	case yaml.AliasNode:
		if k.done[checked{n.Alias, t}] {
			return nil
		}
		k.done[checked{n.Alias, t}] = true
		return k.check(n.Alias, t, path)
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
			return nil // the type mismatch is reported by Decode with its line
		}
		for i, c := range n.Content {
			if err := k.check(c, t.Elem(), index(path, i)); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		switch t.Kind() {
		case reflect.Map:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if err := k.check(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
					return err
				}
			}
		case reflect.Struct:
			fields := structFields(t)
			for i := 0; i+1 < len(n.Content); i += 2 {
				key := n.Content[i]
				ft, ok := fields[key.Value]
				if !ok {
					known := make([]string, 0, len(fields))
					for name := range fields {
						known = append(known, name)
					}
					hint := "remove it or check the spelling"
					if s := Nearest(key.Value, known); s != "" {
						hint = fmt.Sprintf("did you mean %q?", s)
					}
					return &inputerr.Error{File: k.file, Line: key.Line, Key: join(path, key.Value), Msg: "unknown key", Hint: hint}
				}
				if err := k.check(n.Content[i+1], ft, join(path, key.Value)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// join and index make the key path of a value, for messages.
func join(path, key string) string {
	if path == "" {
		return Clip(key)
	}
	return Clip(path + "." + key)
}

func index(path string, i int) string { return Clip(fmt.Sprintf("%s[%d]", path, i)) }

// Clip cuts a text from the input that would make an error too long to read on one
// line (a key, a value, a key path): the input may hold megabytes of it.
func Clip(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	cut := max
	for !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// structFields maps YAML keys to field types, following yaml.v3's tag rules (",inline"
// embeds the inner struct's keys).
func structFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range structFields(f.Type) {
				fields[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return fields
}

// Nearest returns the candidate closest to s by edit distance, or "" when none is close
// enough to be a plausible misspelling.
func Nearest(s string, candidates []string) string {
	best, bestDist := "", len(s)/2+2
	for _, c := range candidates {
		if d := distance(strings.ToLower(s), strings.ToLower(c)); d < bestDist || (d == bestDist && c < best) {
			best, bestDist = c, d
		}
	}
	return best
}

// SuggestHint lists the known values after label ("label: a, b"), led by "did you
// mean …?" when one of them is close to s.
func SuggestHint(s string, known []string, label string) string {
	hint := label + ": " + strings.Join(known, ", ")
	if n := Nearest(s, known); n != "" {
		hint = fmt.Sprintf("did you mean %q? ", n) + hint
	}
	return hint
}

// distance is the Levenshtein edit distance.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
