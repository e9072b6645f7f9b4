package secrets_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

const plain = "proxy:\n    secretToken: 0123456789abcdef\nhub:\n    config:\n        GitHubOAuthenticator:\n            client_secret: s3cr3t-value\n"

func write(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDecryptWithExplicitKey(t *testing.T) {
	key := sopstest.NewKey(t)
	enc := sopstest.MustEncrypt(t, "secrets/prod.yaml", []byte(plain), key.Recipient)
	if bytes.Contains(enc, []byte("s3cr3t-value")) || !secrets.IsEncrypted(enc) {
		t.Fatal("fixture is not encrypted")
	}
	p := write(t, t.TempDir(), "secrets/prod.yaml", enc)
	d := &secrets.Decrypter{AgeIdentities: []string{key.Identity}}
	got, encrypted, err := d.ReadFile(p, "secrets/prod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !encrypted || string(got) != plain {
		t.Fatalf("encrypted=%v got:\n%s", encrypted, got)
	}
}

// sops' own key discovery (SOPS_AGE_KEY_FILE) works when no explicit key is given.
func TestDecryptWithSopsEnvironment(t *testing.T) {
	key := sopstest.NewKey(t)
	dir := t.TempDir()
	keyFile := write(t, dir, "keys.txt", []byte(key.Identity+"\n"))
	t.Setenv("SOPS_AGE_KEY_FILE", keyFile)
	p := write(t, dir, "secrets/staging.json", sopstest.MustEncrypt(t, "x.json", []byte(`{"a": "b"}`), key.Recipient))
	got, _, err := (&secrets.Decrypter{}).ReadFile(p, "secrets/staging.json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), `"a": "b"`) {
		t.Fatalf("got %s", got)
	}
}

func TestPlainFilesPassThrough(t *testing.T) {
	p := write(t, t.TempDir(), "config/common.yaml", []byte("a: 1\n"))
	got, encrypted, err := (&secrets.Decrypter{}).ReadFile(p, "config/common.yaml")
	if err != nil || encrypted || string(got) != "a: 1\n" {
		t.Fatalf("got %q %v %v", got, encrypted, err)
	}
}

func TestErrors(t *testing.T) {
	key, other := sopstest.NewKey(t), sopstest.NewKey(t)
	t.Setenv("SOPS_AGE_KEY_FILE", "")
	t.Setenv("SOPS_AGE_KEY", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir()) // no user keys.txt
	enc := sopstest.MustEncrypt(t, "x.yaml", []byte(plain), key.Recipient)
	dir := t.TempDir()

	tamperedValue := bytes.Replace(enc, []byte("ENC[AES256_GCM,data:"), []byte("ENC[AES256_GCM,data:AA"), 1)
	tamperedKey := bytes.Replace(enc, []byte("secretToken:"), []byte("secretTokem:"), 1)

	for _, tc := range []struct {
		name, file string
		data       []byte
		ids        []string
		want       string
	}{
		{"unencrypted secret", "secrets/prod.yaml", []byte(plain), nil,
			"secrets/prod.yaml: is not sops-encrypted, but its name says it holds secrets (encrypt it with `sops --encrypt --in-place secrets/prod.yaml`"},
		{"wrong age key", "secrets/prod.yaml", enc, []string{other.Identity},
			"secrets/prod.yaml: no available key can decrypt it; it is encrypted for age " + key.Recipient},
		{"no key at all", "secrets/prod.yaml", enc, nil,
			"secrets/prod.yaml: no available key can decrypt it"},
		{"tampered value", "secrets/prod.yaml", tamperedValue, []string{key.Identity},
			"secrets/prod.yaml: failed its integrity check (MAC mismatch)"},
		{"tampered key name", "secrets/prod.yaml", tamperedKey, []string{key.Identity},
			"secrets/prod.yaml: failed its integrity check (MAC mismatch)"},
		{"unsupported format", "secrets/prod.yaml", []byte("sops: 3\n"), []string{key.Identity},
			"secrets/prod.yaml: cannot read as a sops-encrypted file"},
		{"bad explicit key", "secrets/prod.yaml", enc, []string{"AGE-SECRET-KEY-1NOTAKEY"},
			"the given age key is not a valid age identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, dir, tc.file, tc.data)
			_, _, err := (&secrets.Decrypter{AgeIdentities: tc.ids}).ReadFile(p, tc.file)
			if err == nil {
				t.Fatal("no error")
			}
			if !inputerr.Is(err) {
				t.Errorf("not an input error: %v", err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got  %q\nwant %q", err, tc.want)
			}
			for _, leak := range []string{"s3cr3t-value", "0123456789abcdef", "NOTAKEY"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error leaks %q: %v", leak, err)
				}
			}
		})
	}
}

func TestAllowUnencrypted(t *testing.T) {
	p := write(t, t.TempDir(), "secrets/prod.yaml", []byte("a: 1\n"))
	if _, _, err := (&secrets.Decrypter{AllowUnencrypted: true}).ReadFile(p, "secrets/prod.yaml"); err != nil {
		t.Fatal(err)
	}
}
