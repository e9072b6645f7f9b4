package secrets_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
			"secrets/prod.yaml: Found sops entry that is not a mapping; the sops-encrypted file is damaged"},
		{"bad explicit key", "secrets/prod.yaml", enc, []string{"AGE-SECRET-KEY-1NOTAKEY"},
			"the given age key: is not an age key: it holds no valid AGE-SECRET-KEY-1… line"},
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

// A file sops wrote that is damaged is reported as damaged, with where, never as
// cleartext whose secrets need rotating.
func TestDamagedFiles(t *testing.T) {
	key := sopstest.NewKey(t)
	t.Setenv("SOPS_AGE_KEY_FILE", "")
	t.Setenv("SOPS_AGE_KEY", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	enc := sopstest.MustEncrypt(t, "x.yaml", []byte(plain), key.Recipient)
	at := bytes.Index(enc, []byte("\nhub:")) + 1
	damagedKey := bytes.Clone(enc)
	armor := bytes.Index(enc, []byte("-----BEGIN AGE ENCRYPTED FILE-----\n")) + 60 // within the armored data key
	damagedKey[armor] ^= 'A' ^ 'B'
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"corrupted byte", append(append(bytes.Clone(enc[:at+3]), '\t'), enc[at+4:]...), ": could not find expected ':'; the sops-encrypted file is damaged and cannot be decrypted"},
		{"duplicated key", append(bytes.Clone(enc), enc[at:bytes.IndexByte(enc[at:], '\n')+at+1]...), `key "hub": is set twice, first at line 3; the sops-encrypted file is damaged`},
		{"duplicated nested key", bytes.Replace(enc, []byte("\n    config:"), []byte("\n    config: 1\n    config:"), 1), `key "hub.config": is set twice`},
		{"truncated", enc[:len(enc)/2], "; the sops-encrypted file is damaged"},
		{"no metadata", bytes.Replace(enc, []byte("\nsops:"), []byte("\nsxps:"), 1), "x.yaml: sops metadata not found; the sops-encrypted file is damaged"},
		{"damaged data key", damagedKey, "x.yaml: the age key given for " + key.Recipient + " cannot unwrap its data key; the sops-encrypted file is damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !secrets.IsEncrypted(tc.data) {
				t.Fatal("not seen as encrypted")
			}
			p := write(t, t.TempDir(), "x.yaml", tc.data)
			_, _, err := (&secrets.Decrypter{AgeIdentities: []string{key.Identity}}).ReadFile(p, "x.yaml")
			if err == nil || !inputerr.Is(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "rotate") || strings.Contains(err.Error(), "not sops-encrypted") {
				t.Fatalf("sends people to rotate secrets for nothing: %v", err)
			}
			if !strings.Contains(err.Error(), "git checkout -- x.yaml") {
				t.Errorf("says no way out: %v", err)
			}
		})
	}
}

// A malformed age key is named as such, never quoted, rather than "no key can decrypt".
func TestMalformedAgeKey(t *testing.T) {
	key := sopstest.NewKey(t)
	dir := t.TempDir()
	t.Setenv("SOPS_AGE_KEY", "")
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	p := write(t, dir, "secrets/prod.yaml", sopstest.MustEncrypt(t, "x.yaml", []byte(plain), key.Recipient))
	cut := key.Identity[:len(key.Identity)-5]
	for _, tc := range []struct {
		name, env, value, want string
	}{
		{"key file cut short", "SOPS_AGE_KEY_FILE", write(t, dir, "cut.txt", []byte("# created: today\n"+cut+"\n")), filepath.Join(dir, "cut.txt") + ": is not an age key"},
		{"key file missing", "SOPS_AGE_KEY_FILE", filepath.Join(dir, "nowhere.txt"), filepath.Join(dir, "nowhere.txt") + ": cannot read the age key file SOPS_AGE_KEY_FILE names"},
		{"key variable", "SOPS_AGE_KEY", cut, "SOPS_AGE_KEY: is not an age key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SOPS_AGE_KEY_FILE", "")
			t.Setenv(tc.env, tc.value)
			_, _, err := (&secrets.Decrypter{}).ReadFile(p, "secrets/prod.yaml")
			if err == nil || !inputerr.Is(err) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
			if strings.Contains(err.Error(), cut[20:]) {
				t.Fatalf("quotes the key: %v", err)
			}
		})
	}
}

// Looking for the sops key reads a large file in linear time; yaml.v3 decoding into a
// map compared each of its keys with every other (minutes for 400,000).
func TestIsEncryptedLinear(t *testing.T) {
	var b strings.Builder
	for i := range 200_000 {
		fmt.Fprintf(&b, "key%d: value%d\n", i, i)
	}
	began := time.Now()
	if secrets.IsEncrypted([]byte(b.String())) {
		t.Fatal("plain file seen as encrypted")
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Fatalf("200,000 keys took %s", took)
	}
}
