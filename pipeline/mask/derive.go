package mask

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pmezard/go-difflib/difflib"
	"gopkg.in/yaml.v3"
)

// Derived returns what to hide in manifest, a render of a chart, found by comparing it
// with standin, a render of the same chart and values in which every secret value was
// replaced by a stand-in: every scalar (key or value) and comment that differs, or that
// has no counterpart, as its value and as the text the template wrote (of a multi-line
// one, the lines that differ). Whatever a template made of a secret (quoted, escaped,
// encoded, hashed, cut, upper-cased) differs, so it is found without knowing how it was
// made.
//
// Documents are paired by their "# Source:" template and order within it, nodes by
// mapping key and list index. A document that does not parse, or that has no
// counterpart, is hidden line by line: each of its lines that standin lacks.
func Derived(manifest, standin string) []string {
	var found []string
	pairDocuments(manifest, standin, func(doc, otherDoc *source, n, other *yaml.Node) {
		switch {
		case n.Kind != yaml.ScalarNode:
		case other == nil:
			found = append(found, n.Value, doc.raw(n))
		case other.Value != n.Value:
			found = append(found, lines(n.Value, other.Value, differing)...)
			found = append(found, lines(doc.raw(n), otherDoc.raw(other), differing)...)
		}
		var otherComments [3]string
		if other != nil {
			otherComments = [3]string{other.HeadComment, other.LineComment, other.FootComment}
		}
		for i, c := range [3]string{n.HeadComment, n.LineComment, n.FootComment} {
			if c != otherComments[i] {
				found = append(found, c)
			}
		}
	}, func(doc, other string) {
		have := map[string]bool{}
		for _, l := range strings.Split(other, "\n") {
			have[strings.TrimSpace(l)] = true
		}
		for _, l := range strings.Split(doc, "\n") {
			if !have[strings.TrimSpace(l)] {
				found = append(found, l)
			}
		}
	})
	return found
}

// Beside returns the scalars of manifest whose counterpart in other m hides (wholly or
// in part), as values and as written: a live release's values where today's render has
// a secret, even when a template now writes it differently.
func Beside(manifest, other string, m *Masker) []string {
	hidden := func(line, otherLine string, paired bool) string {
		if paired && m.String(otherLine) != otherLine {
			return line
		}
		return ""
	}
	var found []string
	pairDocuments(manifest, other, func(doc, otherDoc *source, n, o *yaml.Node) {
		if n.Kind == yaml.ScalarNode && o != nil && m.String(o.Value) != o.Value {
			found = append(found, lines(n.Value, o.Value, hidden)...)
			found = append(found, lines(doc.raw(n), otherDoc.raw(o), hidden)...)
		}
	}, func(string, string) {})
	return found
}

// lines is text if it is one line, else what pick makes of each line of text (""
// for nothing), given its counterpart in other (paired: it has one), lines paired where
// the two match or in order where they differ: a block that holds a secret on one
// line hides that line only.
func lines(text, other string, pick func(line, otherLine string, paired bool) string) []string {
	textLines, otherLines := strings.Split(text, "\n"), strings.Split(other, "\n")
	if len(textLines) == 1 {
		return []string{text}
	}
	var out []string
	for _, op := range difflib.NewMatcher(textLines, otherLines).GetOpCodes() {
		for i := op.I1; i < op.I2; i++ {
			j := op.J1 + i - op.I1
			paired := op.Tag != 'd' && j < op.J2
			otherLine := ""
			if paired {
				otherLine = otherLines[j]
			}
			if picked := pick(textLines[i], otherLine, paired); picked != "" {
				out = append(out, picked)
			}
		}
	}
	return out
}

// differing is the part of a line that differs from its counterpart (Differing: in
// "key: secret", the secret), or the whole line when it has none.
func differing(line, otherLine string, paired bool) string {
	if !paired {
		return line
	}
	return Differing(line, otherLine)
}

// pairDocuments calls visit for every node of every document of manifest with its
// counterpart in other (nil when it has none) and both documents, and unpaired with the
// text of each document that does not parse or has no counterpart, and the text to
// compare it with.
func pairDocuments(manifest, other string, visit func(doc, otherDoc *source, n, counterpart *yaml.Node), unpaired func(doc, other string)) {
	counterparts := map[string]string{}
	for _, d := range documents(other) {
		counterparts[d.key] = d.text
	}
	for _, d := range documents(manifest) {
		o, ok := counterparts[d.key]
		if !ok {
			unpaired(d.text, other)
			continue
		}
		var n, on yaml.Node
		if yaml.Unmarshal([]byte(d.text), &n) != nil || yaml.Unmarshal([]byte(o), &on) != nil {
			unpaired(d.text, o)
			continue
		}
		src, otherSrc := newSource(d.text, &n), newSource(o, &on)
		walk(&n, &on, func(n, c *yaml.Node) { visit(src, otherSrc, n, c) })
	}
}

type document struct{ key, text string }

// documents splits a manifest into its documents, each keyed by its "# Source:"
// template and its place among that template's documents.
func documents(manifest string) []document {
	var out []document
	seen := map[string]int{}
	for _, text := range separator.Split(manifest, -1) {
		src := ""
		for _, l := range strings.Split(text, "\n") {
			if s, ok := strings.CutPrefix(l, "# Source: "); ok {
				src = s
				break
			}
		}
		out = append(out, document{key: src + "#" + strconv.Itoa(seen[src]), text: text})
		seen[src]++
	}
	return out
}

// walk calls visit for n and every node under it, each with its counterpart under
// other: same mapping key, same list index. Aliases are left out: what they point to
// is visited where it is defined.
func walk(n, other *yaml.Node, visit func(n, counterpart *yaml.Node)) {
	if n.Kind == yaml.AliasNode {
		return
	}
	if other != nil && other.Kind != n.Kind {
		other = nil
	}
	visit(n, other)
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			var oc *yaml.Node
			if other != nil && i < len(other.Content) {
				oc = other.Content[i]
			}
			walk(c, oc, visit)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			var ok, ov *yaml.Node
			if other != nil {
				for j := 0; j+1 < len(other.Content); j += 2 {
					if other.Content[j].Value == n.Content[i].Value {
						ok, ov = other.Content[j], other.Content[j+1]
						break
					}
				}
			}
			walk(n.Content[i], ok, visit)
			walk(n.Content[i+1], ov, visit)
		}
	}
}

// source is a document's text, with where its lines and its nodes start.
type source struct {
	text       string
	lineStarts []int // byte offset of each line
	nodeStarts []int // byte offset of each node, sorted
}

func newSource(text string, root *yaml.Node) *source {
	s := &source{text: text, lineStarts: []int{0}}
	for i, c := range text {
		if c == '\n' {
			s.lineStarts = append(s.lineStarts, i+1)
		}
	}
	walk(root, nil, func(n, _ *yaml.Node) {
		if n.Kind != yaml.DocumentNode {
			s.nodeStarts = append(s.nodeStarts, s.offset(n))
		}
	})
	slices.Sort(s.nodeStarts)
	return s
}

// offset is the byte offset of n's first character (yaml.v3 counts columns in runes).
func (s *source) offset(n *yaml.Node) int {
	if n.Line < 1 || n.Line > len(s.lineStarts) {
		return len(s.text)
	}
	off := s.lineStarts[n.Line-1]
	for col := 1; col < n.Column && off < len(s.text); col++ {
		_, size := utf8.DecodeRuneInString(s.text[off:])
		off += size
	}
	return off
}

// raw is the text that wrote scalar n: a quoted scalar with its quotes and escapes, a
// block scalar (or a plain one folded over lines) with everything up to the next node.
func (s *source) raw(n *yaml.Node) string {
	off := s.offset(n)
	rest := s.text[off:]
	switch {
	case strings.HasPrefix(rest, `"`):
		if end := closingQuote(rest, '"'); end > 0 {
			return rest[:end+1]
		}
	case strings.HasPrefix(rest, "'"):
		if end := closingQuote(rest, '\''); end > 0 {
			return rest[:end+1]
		}
	case strings.HasPrefix(rest, n.Value) && n.Value != "":
		return n.Value
	}
	end := len(s.text)
	if i, _ := slices.BinarySearch(s.nodeStarts, off+1); i < len(s.nodeStarts) {
		end = s.nodeStarts[i]
	}
	return s.text[off:end]
}

// closingQuote is the index of the quote that closes the string quoted opens, or -1:
// backslash escapes in double quotes, a doubled quote in single quotes.
func closingQuote(quoted string, q byte) int {
	for i := 1; i < len(quoted); i++ {
		switch {
		case q == '"' && quoted[i] == '\\':
			i++
		case quoted[i] == q && q == '\'' && i+1 < len(quoted) && quoted[i+1] == '\'':
			i++
		case quoted[i] == q:
			return i
		}
	}
	return -1
}
