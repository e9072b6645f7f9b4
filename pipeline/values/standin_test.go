package values_test

import (
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"

	"github.com/hubploy/hubploy/pipeline/repo"
	"github.com/hubploy/hubploy/pipeline/secrets"
	"github.com/hubploy/hubploy/pipeline/values"
)

// A stand-in keeps a secret's kind, length and character classes, so the chart renders
// alike, and changes every letter and digit, so whatever a template makes of it differs.
func TestStandin(t *testing.T) {
	vals := map[string]any{
		"token":  "Abc-xyz_09 é\"<&>",
		"same":   "Abc-xyz_09 é\"<&>",
		"hex":    "deadbeef0123",
		"symbol": "!?#",
		"port":   5432,
		"ratio":  0.5,
		"flag":   true,
		"none":   nil,
		"list":   []any{"item-s3cret", "public"},
		"public": "kept",
	}
	secret := map[string]bool{"token": true, "same": true, "hex": true, "symbol": true, "port": true, "ratio": true, "flag": true, "none": true, "list": true}
	got := values.Standin(vals, func(keys []string, leaf any) bool { return secret[keys[0]] && leaf != "public" })
	token := got["token"].(string)
	if len([]rune(token)) != len([]rune("Abc-xyz_09 é\"<&>")) || token == vals["token"] || got["same"] != token {
		t.Errorf("token %q, same %q", token, got["same"])
	}
	for i, c := range []rune(token) {
		was := []rune("Abc-xyz_09 é\"<&>")[i]
		isAlnum := c < unicode.MaxASCII && (unicode.IsLetter(c) || unicode.IsDigit(c))
		if isAlnum && (c == was || unicode.IsUpper(c) != unicode.IsUpper(was) || unicode.IsDigit(c) != unicode.IsDigit(was)) || !isAlnum && c != was {
			t.Errorf("character %d: %q for %q", i, c, was)
		}
	}
	if hex := got["hex"].(string); strings.Trim(hex, "0123456789abcdef") != "" || hex == "deadbeef0123" {
		t.Errorf("hex stand-in %q", hex)
	}
	if got["symbol"] == "!?#" || !strings.HasPrefix(got["symbol"].(string), "hubploy-standin-") {
		t.Errorf("a secret with no letter or digit: %q", got["symbol"])
	}
	if got["port"] == 5432 || got["ratio"] == 0.5 || got["flag"] != true || got["none"] != nil {
		t.Errorf("port %v, ratio %v, flag %v, none %v", got["port"], got["ratio"], got["flag"], got["none"])
	}
	list := got["list"].([]any)
	if list[0] == "item-s3cret" || list[1] != "public" || got["public"] != "kept" {
		t.Errorf("list %v, public %v", list, got["public"])
	}
	if vals["token"] != "Abc-xyz_09 é\"<&>" {
		t.Error("the values were changed")
	}
}

// Files named secret hold secrets even unencrypted (git-crypt repositories, with
// --allow-unencrypted-secrets): their values are masked, and their YAML errors quote
// nothing of them.
func TestUnencryptedSecretFiles(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "deployments/hub/hubploy.yaml"), "")
	writeFile(t, filepath.Join(root, "deployments/hub/secrets/prod.yaml"), "token: git-crypt-s3cret\nlist: [a, b]\n")
	writeFile(t, filepath.Join(root, "deployments/hub/secrets/staging.yaml"), "token: [unclosed, git-crypt-s3cret\n")
	writeFile(t, filepath.Join(root, "deployments/hub/config/prod.yaml"), "")
	writeFile(t, filepath.Join(root, "deployments/hub/config/staging.yaml"), "")
	r, _ := repo.Open(root)
	h, _ := r.Hub("hub")
	dec := &secrets.Decrypter{AllowUnencrypted: true}
	res, err := values.Build(h, "prod", dec, values.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"git-crypt-s3cret", "a", "b"}, res.SecretStrings); diff != "" {
		t.Errorf("secret strings (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]string{{"list"}, {"token"}}, res.SecretKeys()); diff != "" {
		t.Errorf("secret keys (-want +got):\n%s", diff)
	}
	if _, err := values.Build(h, "staging", dec, values.Options{}); err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "unclosed") {
		t.Errorf("got %v", err)
	}
}
