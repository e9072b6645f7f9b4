package strictyaml

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// Values gives what yaml.v3 gives for map[string]any, but with string keys throughout.
func TestValuesAsYAMLv3(t *testing.T) {
	doc := `
base: &base {a: 1, b: two}
list: [1, 2.5, true, null, "x", 2001-12-14]
nested:
  <<: *base
  b: mine
  empty:
many:
  <<: [{x: 1}, {x: 2, y: 3}]
  1: number key
text: |
  two
  lines
big: 12345678901234567890
`
	got, err := Values("f.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := yaml.Unmarshal([]byte(doc), &want); err != nil {
		t.Fatal(err)
	}
	want["many"] = map[string]any{"x": 1, "y": 3, "1": "number key"} // yaml.v3: map[any]any{1: …}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-yaml.v3 +Values):\n%s", diff)
	}
}

func TestValuesErrors(t *testing.T) {
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i, prev := 'b', 'a'; i <= 'j'; i, prev = i+1, i {
		bomb += fmt.Sprintf("%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", i, i, prev, prev, prev, prev, prev, prev, prev, prev, prev, prev)
	}
	for _, tc := range []struct{ name, doc, want string }{
		{"duplicate", "a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\n", `f.yaml:5: key "b.c": is set twice, first at line 3 (keep one of the two)`},
		{"duplicate top", "a: 1\na: 2\n", `f.yaml:2: key "a": is set twice, first at line 1`},
		{"two merges", "a: {x: 1}\nb:\n  <<: {}\n  <<: {}\n", `f.yaml:4: key "b.<<": is set twice, first at line 3`},
		{"second document", "a: 1\n---\nb: 2\n", `f.yaml:2: starts a second YAML document, which hubploy would ignore`},
		{"list", "- a\n- b\n", "f.yaml:1: is not a mapping of keys"},
		{"scalar", "just text\n", "f.yaml:1: is not a mapping of keys"},
		{"mapping key", "? {a: 1}\n: x\n", `f.yaml:1: has a key that is a mapping or a list`},
		{"merge of a scalar", "a:\n  <<: 3\n", `f.yaml:2: key "a.<<": merges something that is not a mapping`},
		{"self alias", "a: &x [1, *x]\n", `f.yaml:1: key "a[1][1]": alias *x is inside its own anchor`},
		{"alias bomb", bomb, fmt.Sprintf("aliases expand to more than %d values", MaxAliasedValues)},
		{"syntax", "a: [\n", "f.yaml:1: did not find expected node content"},
		{"tab", "a:\n\tb: 1\n", "f.yaml:2: found character that cannot start any token"},
		{"NUL", "a: 1\nb: x\x00y\n", "f.yaml:2: control characters are not allowed"},
		{"bell", "a: 1\n\nb: x\ay\n", "f.yaml:3: control characters are not allowed"},
		{"huge duplicate key", "? k" + strings.Repeat("x", 1<<20) + "\n: 1\n? k" + strings.Repeat("x", 1<<20) + "\n: 2\n", `f.yaml:3: key "kxxx`},
		{"bad int", "a: !!int x\n", "f.yaml:1: key \"a\": cannot decode !!str `x` as a !!int"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Values("f.yaml", []byte(tc.doc))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got  %.300v\nwant %s", err, tc.want)
			}
			if len(err.Error()) > 1000 {
				t.Fatalf("an error of %d bytes is no line to read", len(err.Error()))
			}
		})
	}
}

func TestValuesEmpty(t *testing.T) {
	for _, doc := range []string{"", "# only a comment\n", "~\n", "---\n", "a: 1\n---\n", "---\na: 1\n...\n"} {
		if _, err := Values("f.yaml", []byte(doc)); err != nil {
			t.Errorf("%q: %v", doc, err)
		}
	}
}

// One mapping of n keys takes time linear in n. yaml.v3 compares every key with every
// other: 4 times the keys took 16 times as long. CPU time, not wall time, so that a
// busy machine does not fail the test.
func TestLargeMappingIsLinear(t *testing.T) {
	cost := func(n int) time.Duration {
		var b strings.Builder
		b.WriteString("top:\n")
		for i := range n {
			fmt.Fprintf(&b, "  key%d: value%d\n", i, i)
		}
		doc := []byte(b.String())
		began := CPUTime(t)
		v, err := Values("f.yaml", doc)
		if err != nil || len(v["top"].(map[string]any)) != n {
			t.Fatalf("%d keys: %v", n, err)
		}
		return CPUTime(t) - began
	}
	cost(1000) // warm up
	small, large := cost(25_000), cost(100_000)
	t.Logf("25,000 keys: %s, 100,000 keys: %s", small, large)
	if large > 8*small+100*time.Millisecond {
		t.Fatalf("4 times the keys took %.1f times as long: quadratic", float64(large)/float64(small))
	}
}

// CPUTime is the process's user and system CPU time so far.
func CPUTime(t testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
