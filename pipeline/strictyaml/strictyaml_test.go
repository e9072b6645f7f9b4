package strictyaml

import (
	"strings"
	"testing"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

type inner struct {
	Name string `yaml:"name"`
	Path string `yaml:"path,omitempty"`
}

type outer struct {
	Items []inner          `yaml:"items"`
	One   *inner           `yaml:"one"`
	Free  map[string]inner `yaml:"free"`
	Count int              `yaml:"count"`
}

func TestDecodeValid(t *testing.T) {
	var o outer
	err := Decode("f.yaml", []byte("items:\n- name: a\n  path: p\none: {name: b}\nfree:\n  x: {name: c}\ncount: 3\n"), &o)
	if err != nil {
		t.Fatal(err)
	}
	if o.Items[0].Path != "p" || o.One.Name != "b" || o.Free["x"].Name != "c" || o.Count != 3 {
		t.Fatalf("decoded wrong: %+v", o)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"unknown top key", "count: 1\nitemz: []\n", `f.yaml:2: key "itemz": unknown key (did you mean "items"?)`},
		{"unknown nested in list", "items:\n- name: a\n- nme: b\n", `f.yaml:3: key "items[1].nme": unknown key (did you mean "name"?)`},
		{"unknown in map value", "free:\n  x:\n    paht: y\n", `f.yaml:3: key "free.x.paht": unknown key (did you mean "path"?)`},
		{"nothing close", "zzzzzzzzzz: 1\n", `f.yaml:1: key "zzzzzzzzzz": unknown key (remove it or check the spelling)`},
		{"malformed", "items: [\n", "f.yaml:1: did not find expected node content (fix the YAML syntax)"},
		{"wrong type", "count: many\n", "f.yaml:1: cannot unmarshal !!str `many` into int"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o outer
			err := Decode("f.yaml", []byte(tc.doc), &o)
			if err == nil {
				t.Fatal("no error")
			}
			if !inputerr.Is(err) {
				t.Fatalf("not an input error: %v", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got  %q\nwant prefix %q", err, tc.want)
			}
		})
	}
}

func TestNearest(t *testing.T) {
	if got := Nearest("imagse", []string{"images", "cluster"}); got != "images" {
		t.Fatalf("got %q", got)
	}
	if got := Nearest("q", []string{"images", "cluster"}); got != "" {
		t.Fatalf("got %q for an unrelated key", got)
	}
}
