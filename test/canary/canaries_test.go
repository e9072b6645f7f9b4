package canary

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// window is how long a run of a canary's bytes, in any of its forms, counts as a leak.
const window = 8

// canaries are secrets made to be found: each has random letters and digits around
// the characters templates and messages escape (quotes, a backslash, <&>, control
// characters, non-ASCII), and every window-long run of its every form is looked for.
type canaries struct {
	values  []string
	windows map[string]string // a run of bytes → which canary and form it is from
}

func newCanaries() *canaries { return &canaries{windows: map[string]string{}} }

// add makes a canary named name (for messages) and returns it.
func (c *canaries) add(name string) string {
	v := random() + `'"\<&>x` + "\x01\t\x1bé漢" + random()
	c.register(name, v)
	return v
}

// addLines makes a multi-line canary, two lines with no control character (which a
// YAML block cannot hold), each a canary.
func (c *canaries) addLines(name string) string {
	line := func(n int) string {
		v := random() + `'"\<&>x é漢 ` + random()
		c.register(fmt.Sprintf("%s, line %d", name, n), v)
		return v
	}
	v := line(1) + "\n" + line(2) + "\n"
	c.register(name, v)
	return v
}

// addHex makes a canary of 64 hex digits, for secrets a schema wants in hex.
func (c *canaries) addHex(name string) string {
	b := make([]byte, 32)
	rand.Read(b)
	v := hex.EncodeToString(b)
	c.register(name, v)
	return v
}

func (c *canaries) register(name, v string) {
	c.values = append(c.values, v)
	for form, text := range forms(v) {
		for i := 0; i+window <= len(text); i++ {
			c.windows[text[i:i+window]] = fmt.Sprintf("canary %s (%s)", name, form)
		}
	}
}

func random() string {
	b := make([]byte, 8)
	rand.Read(b)
	return strings.ToLower(base64.RawURLEncoding.EncodeToString(b)[:10])
}

// forms are the ways a secret can come out: as it is, escaped as Go, JSON and YAML
// escape it, base64-encoded, upper-cased, percent-encoded as URLs carry it.
func forms(v string) map[string]string {
	jsonHTML, _ := json.Marshal(v)
	var plain strings.Builder
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	goQuoted := strconv.Quote(v)
	return map[string]string{
		"as is":              v,
		"Go-quoted":          goQuoted,
		"Go-quoted, ASCII":   strconv.QuoteToASCII(v),
		"JSON":               string(jsonHTML),
		"JSON, HTML as is":   plain.String(),
		"YAML single-quoted": "'" + strings.ReplaceAll(v, "'", "''") + "'",
		"JSON Schema-quoted": strings.ReplaceAll(strings.ReplaceAll(goQuoted, `\"`, `"`), `'`, `\'`),
		"base64":             base64.StdEncoding.EncodeToString([]byte(v)),
		"upper-case":         strings.ToUpper(v),
		"percent-encoded":    url.QueryEscape(v),
		"URL user":           url.User(v).String(),
		"folded on one line": strings.Join(strings.Fields(v), " "),
	}
}

// leaks names each canary form text holds, with where.
func (c *canaries) leaks(text string) []string {
	var found []string
	seen := map[string]bool{}
	for i := 0; i+window <= len(text); i++ {
		if what, ok := c.windows[text[i:i+window]]; ok && !seen[what] {
			seen[what] = true
			from, to := max(0, i-40), min(len(text), i+window+40)
			found = append(found, fmt.Sprintf("%s: …%q…", what, text[from:to]))
		}
	}
	return found
}
