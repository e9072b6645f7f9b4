// Package secrets decrypts sops-encrypted files in memory with the sops library: age,
// PGP, Vault and the cloud KMS kinds, with keys found the way the sops CLI finds them,
// or given explicitly (age identities, PGP keys, cloud and Vault credentials).
// Cleartext is only ever returned as bytes: nothing here writes a file, sets an
// environment variable or logs a value.
package secrets

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/cmd/sops/formats"
	"github.com/getsops/sops/v3/config"
	"github.com/getsops/sops/v3/keyservice"
	"github.com/getsops/sops/v3/stores/dotenv"
	"github.com/getsops/sops/v3/stores/ini"
	"github.com/getsops/sops/v3/stores/json"
	sopsyaml "github.com/getsops/sops/v3/stores/yaml"
	"golang.org/x/oauth2"
	"gopkg.in/yaml.v3"

	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/strictyaml"
)

// IsEncrypted reports whether data is a sops document: YAML or JSON (JSON is YAML) with
// a top-level "sops" key, the test the Python hubploy and 2i2c's deployer use. A file
// that sops wrote but that is damaged is encrypted too, so that Decrypt says what is
// wrong with it rather than a leak guard calling it cleartext: its values are still
// ENC[…], or it no longer parses but still has sops' marks. The parse is linear in the
// file's size (no yaml.v3 decoding into a map, which compares every key with every other).
func IsEncrypted(data []byte) bool {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return sopsMarks.Match(data)
	}
	if len(doc.Content) == 1 && doc.Content[0].Kind == yaml.MappingNode {
		top := doc.Content[0].Content
		for i := 0; i < len(top); i += 2 {
			if top[i].Value == "sops" {
				return true
			}
		}
	}
	return bytes.Contains(data, []byte(encryptedValueMark))
}

// encryptedValueMark starts every value sops encrypts.
const encryptedValueMark = "ENC[AES256_GCM,"

// sopsMarks are what sops writes into every file it encrypts, in YAML or in JSON.
var sopsMarks = regexp.MustCompile(`ENC\[AES256_GCM,|(?m)^sops:|"sops"\s*:`)

// NameSaysSecret reports whether a path promises secrets: any part of it contains
// "secret" (secrets/prod.yaml, enc-prod.secret.values.yaml).
func NameSaysSecret(path string) bool {
	return strings.Contains(strings.ToLower(filepath.ToSlash(path)), "secret")
}

// Decrypter reads files that may be sops-encrypted. The zero value finds keys as the
// sops CLI does (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, the user's age keys.txt, GnuPG,
// cloud credentials for KMS).
type Decrypter struct {
	// AgeIdentities are age private keys (AGE-SECRET-KEY-1…), tried before the keys sops
	// finds itself. They let a caller hand over key material without touching the
	// process environment, so hubs with different keys can be decrypted side by side.
	AgeIdentities []string

	// Keys, when set, are the credentials for the other kinds of master key: a kind
	// whose credential is given is decrypted with it alone, the others as sops finds.
	Keys *KeyCredentials

	// AllowUnencrypted turns off the leak guard for repos that protect their secrets
	// with git-crypt rather than sops.
	AllowUnencrypted bool
}

// KeyCredentials are credentials for sops master keys other than age, used instead of
// the ones sops would find in the environment; a kind left empty is decrypted with what
// sops finds, as without KeyCredentials. Like AgeIdentities, they let a process whose
// environment holds no cloud credentials (a container) be handed them in memory, as
// Flux's kustomize-controller is. A key's AWS profile is not read: AWS replaces it. No
// credential is ever written to a file, put in the environment, or quoted in an error.
type KeyCredentials struct {
	GoogleTokenSource oauth2.TokenSource      // GCP KMS
	AWS               aws.CredentialsProvider // AWS KMS (a key's role, if its metadata names one, is assumed with these)
	Azure             azcore.TokenCredential  // Azure Key Vault
	VaultToken        string                  // HashiCorp Vault transit (the address is the key's own)
	PGPKeys           []string                // ASCII-armored OpenPGP private keys (unprotected)
	// HTTPClient carries the calls to the KMS APIs and Vault (a private CA); nil:
	// http.DefaultClient. An Azure Key Vault's URL is the key's own.
	HTTPClient *http.Client
	// GCPKMSEndpoint, AWSKMSEndpoint and AWSSTSEndpoint (where a key's role is
	// assumed) replace the services' base URLs (private endpoints; tests); "": the
	// real ones.
	GCPKMSEndpoint, AWSKMSEndpoint, AWSSTSEndpoint string
}

// ReadFile returns the cleartext of the file at path and whether it was encrypted.
// display is how the file is named in errors (usually relative to the repo).
// A file whose name says secret but that is not encrypted is refused.
func (d *Decrypter) ReadFile(path, display string) (cleartext []byte, encrypted bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false, &inputerr.Error{File: display, Msg: "cannot read: " + errors.Unwrap(err).Error(), Err: err}
	}
	if !IsEncrypted(data) {
		if NameSaysSecret(display) && !d.AllowUnencrypted {
			return nil, false, &inputerr.Error{File: display,
				Msg:  "is not sops-encrypted, but its name says it holds secrets",
				Hint: "encrypt it with `sops --encrypt --in-place " + display + "`, and rotate what it holds if it was ever committed; repos that use git-crypt can pass --allow-unencrypted-secrets"}
		}
		return data, false, nil
	}
	clear, err := d.Decrypt(display, data)
	return clear, true, err
}

// Decrypt decrypts a sops document; the format comes from display's extension
// (.yaml/.yml, .json, .env, .ini, anything else binary), as with the sops CLI.
func (d *Decrypter) Decrypt(display string, data []byte) ([]byte, error) {
	format := formats.FormatForPath(display)
	if format != formats.Dotenv && format != formats.Ini {
		// Read first to say where the file is damaged (its line, a key set twice):
		// sops' own errors name no line.
		if _, err := strictyaml.Parse(display, data); err != nil {
			return nil, damaged(err)
		}
	}
	store := StoreFor(display)
	tree, err := store.LoadEncryptedFile(data)
	if err != nil {
		return nil, damaged(&inputerr.Error{File: display, Msg: err.Error(), Err: err})
	}
	svc, err := d.keyService()
	if err != nil {
		return nil, err
	}
	key, err := tree.Metadata.GetDataKeyWithKeyServices([]keyservice.KeyServiceClient{svc}, nil)
	if err != nil {
		return nil, d.noKey(display, tree.Metadata, err)
	}
	cipher := aes.NewCipher()
	mac, err := tree.Decrypt(key, cipher)
	if err != nil {
		return nil, tampered(display, err)
	}
	stored, err := cipher.Decrypt(tree.Metadata.MessageAuthenticationCode, key, tree.Metadata.LastModified.Format(time.RFC3339))
	if err != nil || stored != mac {
		return nil, tampered(display, err)
	}
	out, err := store.EmitPlainFile(tree.Branches)
	if err != nil {
		return nil, fmt.Errorf("%s: writing the decrypted document: %w", display, err)
	}
	return out, nil
}

// damaged is the error for a file sops wrote that can no longer be read: err says where
// and what. Nothing in it was exposed, so the hint is to restore it, not to rotate.
func damaged(err error) error {
	e := &inputerr.Error{}
	if !errors.As(err, &e) {
		e = &inputerr.Error{Msg: err.Error()}
	}
	return &inputerr.Error{File: e.File, Line: e.Line, Key: e.Key,
		Msg:  e.Msg + "; the sops-encrypted file is damaged and cannot be decrypted",
		Hint: "restore it from git (git checkout -- " + e.File + "), or re-create it with sops", Err: err}
}

// noKey explains why no key could decrypt the file's data key: a malformed key file
// or variable; a key the file is encrypted for that still fails (the file's metadata is
// damaged); or no matching key.
func (d *Decrypter) noKey(display string, m sops.Metadata, err error) error {
	have, bad := d.ageRecipients()
	if bad != nil {
		return bad
	}
	for _, group := range m.KeyGroups {
		for _, k := range group {
			if ak, ok := k.(*sopsage.MasterKey); ok && have[ak.Recipient] {
				return damaged(&inputerr.Error{File: display,
					Msg: "the age key given for " + ak.Recipient + " cannot unwrap its data key"})
			}
		}
	}
	return &inputerr.Error{File: display,
		Msg:  "no available key can decrypt it; it is encrypted for " + recipients(m),
		Hint: "give the matching key: SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, --age-key-file, or cloud credentials for KMS", Err: err}
}

func tampered(display string, err error) error {
	return &inputerr.Error{File: display,
		Msg:  "failed its integrity check (MAC mismatch): it was changed after it was encrypted, or is corrupt",
		Hint: "restore it from git, or re-create it with sops", Err: err}
}

// recipients names the keys a file is encrypted for: public identifiers only.
func recipients(m sops.Metadata) string {
	var names []string
	for _, group := range m.KeyGroups {
		for _, k := range group {
			names = append(names, k.TypeToIdentifier()+" "+k.ToString())
		}
	}
	if len(names) == 0 {
		return "no key"
	}
	return strings.Join(names, ", ")
}

func (d *Decrypter) keyService() (keyservice.KeyServiceClient, error) {
	c := keyClient{fallback: keyservice.NewLocalClient()}
	for _, s := range d.AgeIdentities {
		parsed, err := ParseAgeKeys("the given age key", s)
		if err != nil {
			return nil, err
		}
		c.age = append(c.age, parsed...)
	}
	if d.Keys != nil {
		c.keys = *d.Keys
		if c.keys.HTTPClient == nil {
			c.keys.HTTPClient = http.DefaultClient
		}
		var err error
		if c.pgp, err = readPGPKeys(d.Keys.PGPKeys); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// ParseAgeKeys parses the age identities of a key file's content, as sops does: one
// AGE-SECRET-KEY-1… (or plugin) line each, with comments and blank lines. source names
// the content in the error (a file, or an environment variable), which never quotes it.
func ParseAgeKeys(source, content string) (sopsage.ParsedIdentities, error) {
	var ids sopsage.ParsedIdentities
	if err := ids.Import(content); err != nil || len(ids) == 0 {
		return nil, &inputerr.Error{File: source, Msg: "is not an age key: it holds no valid AGE-SECRET-KEY-1… line",
			Hint: "give the key file age-keygen wrote; check it was not cut or changed"}
	}
	return ids, nil
}

// ageRecipients are the recipients of every age key hubploy and sops can use: the
// given ones, SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and the user's sops keys.txt. bad names
// the first of them that is malformed, since sops then reports only that no key fits.
func (d *Decrypter) ageRecipients() (have map[string]bool, bad error) {
	have = map[string]bool{}
	add := func(source, content string) error {
		switch {
		case strings.TrimSpace(content) == "":
			return nil // unset, as sops takes it
		case strings.HasPrefix(content, "age-encryption.org/"), strings.HasPrefix(content, "-----BEGIN AGE"):
			return nil // a passphrase-protected key file: sops asks for the passphrase
		}
		ids, err := ParseAgeKeys(source, content)
		for _, id := range ids {
			if x, ok := id.(*age.X25519Identity); ok {
				have[x.Recipient().String()] = true
			}
		}
		return err
	}
	for _, s := range d.AgeIdentities {
		if err := add("the given age key", s); err != nil {
			return have, err
		}
	}
	if s, ok := os.LookupEnv(sopsage.SopsAgeKeyEnv); ok {
		if err := add(sopsage.SopsAgeKeyEnv, strings.Join(strings.Fields(s), "\n")); err != nil {
			return have, err
		}
	}
	files := []string{os.Getenv(sopsage.SopsAgeKeyFileEnv)}
	if dir, err := os.UserConfigDir(); err == nil {
		files = append(files, filepath.Join(dir, filepath.FromSlash(sopsage.SopsAgeKeyUserConfigPath)))
	}
	for i, f := range files {
		if f == "" {
			continue
		}
		data, err := os.ReadFile(f)
		switch {
		case i == 0 && err != nil:
			return have, &inputerr.Error{File: f, Msg: "cannot read the age key file " + sopsage.SopsAgeKeyFileEnv + " names: " + errors.Unwrap(err).Error(), Err: err}
		case err != nil:
			continue // no keys.txt is the usual case
		}
		if err := add(f, string(data)); err != nil {
			return have, err
		}
	}
	return have, nil
}

// Store is the sops store for a file format.
type Store interface {
	sops.Store
}

// StoreFor picks the sops store by file extension, as the sops CLI does. (sops' own
// helper for this lives in its CLI package, which would pull in its S3 and GCS
// publishing code.)
func StoreFor(path string) Store {
	c := config.NewStoresConfig()
	switch formats.FormatForPath(path) {
	case formats.Yaml:
		return sopsyaml.NewStore(&c.YAML)
	case formats.Json:
		return json.NewStore(&c.JSON)
	case formats.Dotenv:
		return dotenv.NewStore(&c.Dotenv)
	case formats.Ini:
		return ini.NewStore(&c.INI)
	default:
		return json.NewBinaryStore(&c.JSONBinary)
	}
}
