// Package mask hides secrets in rendered manifests and messages: the data of every
// Secret object, and every value that came from a secret file, or that a template made
// of one, wherever it appears.
package mask

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Marker replaces a hidden value.
const Marker = "<masked>"

// MinLength is the shortest secret string replaced in free text; shorter ones ("1",
// "yes") would mask half the output while hiding nothing worth hiding.
const MinLength = 4

// Masker hides a fixed set of secret strings.
type Masker struct {
	secrets  []string
	replacer *strings.Replacer
}

// New builds a masker for the given secret strings. Each is hidden as it is and as
// messages quote it (see quotings); multi-line ones also line by line, since YAML
// re-indents them.
func New(secrets []string) *Masker {
	seen := map[string]bool{}
	var hidden []string
	for _, s := range secrets {
		parts := []string{s}
		if strings.Contains(s, "\n") {
			parts = append(parts, strings.Split(s, "\n")...)
		}
		for _, part := range parts {
			if len(strings.TrimSpace(part)) < MinLength {
				continue
			}
			for _, q := range quotings(part) {
				if q = strings.TrimSpace(q); !seen[q] {
					seen[q] = true
					hidden = append(hidden, q)
				}
			}
		}
	}
	// strings.Replacer takes the first listed match at a position: longest first wins.
	slices.SortFunc(hidden, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	pairs := make([]string, 0, 2*len(hidden))
	for _, s := range hidden {
		pairs = append(pairs, s, Marker)
	}
	return &Masker{secrets: secrets, replacer: strings.NewReplacer(pairs...)}
}

// With returns a masker that also hides more.
func (m *Masker) With(more []string) *Masker {
	return New(append(slices.Clip(m.secrets), more...))
}

// quotings are s and the ways messages quote it, without the outer quotes: Go's %q
// (sprig's quote, the API server's "Invalid value"), ASCII-only %+q, JSON (toJson, with
// and without HTML escapes), YAML single quotes (toYaml) and JSON Schema's '…' (helm's
// schema errors). Rendered manifests need none of these: Derived finds the text a
// template made; messages about values (a schema's, the API server's) quote the value
// itself, in one of these.
func quotings(s string) []string {
	goQuoted := inner(strconv.Quote(s))
	htmlJSON, _ := json.Marshal(s) // a string always marshals
	var plainJSON bytes.Buffer
	enc := json.NewEncoder(&plainJSON)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return []string{
		s,
		goQuoted,
		inner(strconv.QuoteToASCII(s)),
		inner(string(htmlJSON)),
		inner(strings.TrimSuffix(plainJSON.String(), "\n")),
		strings.ReplaceAll(s, "'", "''"),
		strings.ReplaceAll(strings.ReplaceAll(goQuoted, `\"`, `"`), `'`, `\'`),
	}
}

// inner drops a quoted string's outer quotes.
func inner(quoted string) string { return quoted[1 : len(quoted)-1] }

// String hides the secrets in free text, such as an error message.
func (m *Masker) String(s string) string {
	return m.replacer.Replace(s)
}

// Manifest hides Secret objects' data and the secret strings in a multi-document YAML
// stream. Documents that are not Secrets keep their formatting.
func (m *Masker) Manifest(manifest string) string {
	var out strings.Builder
	last := 0
	for _, loc := range separator.FindAllStringIndex(manifest, -1) {
		out.WriteString(m.String(SecretData(manifest[last:loc[0]], constant)))
		out.WriteString(manifest[loc[0]:loc[1]])
		last = loc[1]
	}
	out.WriteString(m.String(SecretData(manifest[last:], constant)))
	return out.String()
}

// separator matches YAML document separators: a line that is exactly "---".
var separator = regexp.MustCompile(`(?m)^---[ \t]*$`)

func constant(string, string, string) string { return Marker }

// SecretData replaces every value under data and stringData of a Secret document by
// what marker returns for it (section is "data" or "stringData"). Other documents are
// returned as they are.
func SecretData(doc string, marker func(section, key, value string) string) string {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &n); err != nil || len(n.Content) == 0 {
		return doc
	}
	obj := n.Content[0]
	if obj.Kind != yaml.MappingNode || field(obj, "kind") == nil || field(obj, "kind").Value != "Secret" {
		return doc
	}
	for _, key := range []string{"data", "stringData"} {
		if d := field(obj, key); d != nil && d.Kind == yaml.MappingNode {
			for i := 1; i < len(d.Content); i += 2 {
				d.Content[i] = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: marker(key, d.Content[i-1].Value, d.Content[i].Value)}
			}
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return doc
	}
	// Keep the newlines around the document so separators stay on their own lines.
	lead := doc[:len(doc)-len(strings.TrimLeft(doc, "\n"))]
	trail := doc[len(strings.TrimRight(doc, "\n")):]
	return lead + strings.TrimRight(buf.String(), "\n") + trail
}

func field(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// Error is an error whose text has the secrets hidden and is folded onto one line,
// and which still wraps the original, so errors.Is and errors.As see the whole chain.
// Show people only its Error(): the errors it wraps may quote secrets.
type Error struct {
	text string
	err  error
}

func (e *Error) Error() string { return e.text }

func (e *Error) Unwrap() error { return e.err }

// Error masks err's text (nil stays nil). Multi-line messages (helm's "1 error
// occurred:\n\t* ...") become one line.
func (m *Masker) Error(err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) && already == err {
		return &Error{text: m.String(already.text), err: already.err}
	}
	return &Error{text: strings.Join(strings.Fields(m.String(err.Error())), " "), err: err}
}
