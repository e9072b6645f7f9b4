package mask

import (
	"slices"
	"strings"
	"testing"
)

func TestDerivedFindsWhatDiffers(t *testing.T) {
	real := `---
# Source: c/templates/a.yaml
kind: ConfigMap
metadata:
  name: a # s3cr3t-c0mment
data:
  same: kept
  quoted: "it's \"s3cr3t\" <&>"
  single: 'it''s s3cr3t'
  block: |
    line one
    token: s3cr3t two
  flow: {"k": "s3cr3t\u003c"}
  folded: plain s3cr3t words
    folded over lines
  s3cr3t-key: v
`
	standin := `---
# Source: c/templates/a.yaml
kind: ConfigMap
metadata:
  name: a # t4ds4u-d1nnfou
data:
  same: kept
  quoted: "ju't \"t4ds4u\" <&>"
  single: 'ju''t t4ds4u'
  block: |
    line one
    token: t4ds4u two
  flow: {"k": "t4ds4u\u003c"}
  folded: plain t4ds4u words
    folded over lines
  t4ds4u-key: v
`
	got := Derived(real, standin)
	for _, want := range []string{
		"# s3cr3t-c0mment",
		`"it's \"s3cr3t\" <&>"`, `it's "s3cr3t" <&>`,
		`'it''s s3cr3t'`,
		`"s3cr3t\u003c"`, "s3cr3t<",
		"s3cr3t-key",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %q in %q", want, got)
		}
	}
	if slices.Contains(got, "kept") || slices.Contains(got, "ConfigMap") || slices.Contains(got, "line one") {
		t.Errorf("found what does not differ: %q", got)
	}
	// Blocks and folded scalars are hidden where their lines differ, as written.
	masked := New(got).Manifest(real)
	if strings.Contains(masked, "s3cr3t") || !strings.Contains(masked, "    folded over lines\n") || !strings.Contains(masked, "    line one\n") ||
		!strings.Contains(masked, "    token: <masked> two\n") {
		t.Errorf("masked:\n%s", masked)
	}
}

// Documents pair by template and order, not by their place in the stream, which helm
// sorts by kind and name (a name can come from a secret); a document without a
// counterpart is hidden line by line.
func TestDerivedPairsDocumentsBySource(t *testing.T) {
	real := "---\n# Source: c/templates/b.yaml\nkind: B\nv: same\n---\n# Source: c/templates/a.yaml\nkind: A\nv: s3cr3t\n---\n# Source: c/templates/only.yaml\nkind: A\nx: lonely-line\n"
	standin := "---\n# Source: c/templates/a.yaml\nkind: A\nv: t4ds4u\n---\n# Source: c/templates/b.yaml\nkind: B\nv: same\n"
	got := Derived(real, standin)
	slices.Sort(got)
	if want := []string{"# Source: c/templates/only.yaml", "s3cr3t", "s3cr3t", "x: lonely-line"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestBeside(t *testing.T) {
	live := "# Source: c/t.yaml\nkind: A\ntoken: b2xk\nother: changed-before\n"
	next := "# Source: c/t.yaml\nkind: A\ntoken: \"new-s3cr3t\"\nother: changed-after\n"
	got := Beside(live, next, New([]string{"new-s3cr3t"}))
	if !slices.Equal(got, []string{"b2xk", "b2xk"}) {
		t.Errorf("got %q", got)
	}
}

func TestDiffering(t *testing.T) {
	for _, tc := range []struct{ text, standin, want string }{
		{`execution error at (c/t.yaml:3:4): bad "s3cr3t\"x" here`, `execution error at (c/t.yaml:3:4): bad "t4ds4u\"y" here`, `"s3cr3t\"x"`},
		// The secret starts and ends like the stand-in: widened to the whole word.
		{`got: as3cr3tz.`, `got: at4ds4uz.`, `as3cr3tz.`},
		// Two secrets: everything between goes too.
		{`a s3cr3t b c0de c`, `a t4ds4u b d1ef c`, `s3cr3t b c0de`},
		{`same`, `same`, ``},
		// Multi-byte characters are never split.
		{`x é s3cr3t é y`, `x é t4ds4u é y`, `s3cr3t`},
	} {
		if got := Differing(tc.text, tc.standin); got != tc.want {
			t.Errorf("Differing(%q, %q) = %q, want %q", tc.text, tc.standin, got, tc.want)
		}
	}
}

// Messages quote a value their own way; each way is hidden.
func TestQuotingsAreHidden(t *testing.T) {
	secret := "it's \"q\" <&> \\ \x01 é"
	m := New([]string{secret})
	for _, msg := range []string{
		`Invalid value: "it's \"q\" <&> \\ \x01 é"`,                 // Go %q, the API server's
		`Invalid value: "it's \"q\" <&> \\ \x01 \u00e9"`,            // %+q
		`"it's \"q\" \u003c\u0026\u003e \\ \u0001 é"`,               // json.Marshal
		`"it's \"q\" <&> \\ \u0001 é"`,                              // JSON without HTML escapes
		`'it''s "q" <&> \ ` + "\x01" + ` é'`,                        // YAML single quotes
		`at '/a': 'it\'s "q" <&> \\ \x01 é' does not match pattern`, // JSON Schema
	} {
		if got := m.String(msg); strings.Contains(got, "q") && strings.Contains(got, "<&>") {
			t.Errorf("not hidden: %s", got)
		}
	}
}

func TestStdLog(t *testing.T) {
	var out strings.Builder
	s := NewSink(&out)
	s.Add(New([]string{"s3cr3t-one"}))
	s.Add(New([]string{"s3cr3t-two"}))
	s.Write([]byte("[INFO] Fail: s3cr3t-one and s3cr3t-two\n"))
	s.Quiet(func() { s.Write([]byte("dropped\n")) })
	if got := out.String(); got != "[INFO] Fail: <masked> and <masked>\n" {
		t.Errorf("got %q", got)
	}
}
