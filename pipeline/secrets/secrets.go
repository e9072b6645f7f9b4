// Package secrets decrypts sops-encrypted files in memory with the sops library: age,
// PGP and the cloud KMS kinds, with keys found the way the sops CLI finds them, plus
// explicitly given age identities. Cleartext is only ever returned as bytes: nothing
// here writes a file, sets an environment variable or logs a value.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
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
	"google.golang.org/grpc"
	"gopkg.in/yaml.v3"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// IsEncrypted reports whether data is a sops document: YAML or JSON (JSON is YAML) with
// a top-level "sops" key. This is the test the Python hubploy and 2i2c's deployer use.
func IsEncrypted(data []byte) bool {
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(data, &top); err != nil {
		return false
	}
	_, ok := top["sops"]
	return ok
}

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

	// AllowUnencrypted turns off the leak guard for repos that protect their secrets
	// with git-crypt rather than sops.
	AllowUnencrypted bool
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
	store := StoreFor(display)
	tree, err := store.LoadEncryptedFile(data)
	if err != nil {
		return nil, &inputerr.Error{File: display, Msg: "cannot read as a sops-encrypted file: " + err.Error(),
			Hint: "check the file's format matches its extension and that it was written by sops", Err: err}
	}
	svc, err := d.keyService()
	if err != nil {
		return nil, err
	}
	key, err := tree.Metadata.GetDataKeyWithKeyServices([]keyservice.KeyServiceClient{svc}, nil)
	if err != nil {
		return nil, &inputerr.Error{File: display,
			Msg:  "no available key can decrypt it; it is encrypted for " + recipients(tree.Metadata),
			Hint: "give the matching key: SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, --age-key-file, or cloud credentials for KMS", Err: err}
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
	local := keyservice.NewLocalClient()
	if len(d.AgeIdentities) == 0 {
		return local, nil
	}
	var ids sopsage.ParsedIdentities
	for _, s := range d.AgeIdentities {
		parsed, err := age.ParseIdentities(strings.NewReader(s))
		if err != nil {
			// The parse error can quote the key material: keep it out of the message.
			return nil, &inputerr.Error{Msg: "the given age key is not a valid age identity", Hint: "pass the AGE-SECRET-KEY-1… line of an age key file"}
		}
		for _, id := range parsed {
			ids = append(ids, id)
		}
	}
	return explicitAge{ids: ids, fallback: local}, nil
}

// explicitAge decrypts age-wrapped data keys with the identities it holds and hands
// every other key kind to sops' own local key service.
type explicitAge struct {
	ids      sopsage.ParsedIdentities
	fallback keyservice.KeyServiceClient
}

func (e explicitAge) Decrypt(ctx context.Context, req *keyservice.DecryptRequest, opts ...grpc.CallOption) (*keyservice.DecryptResponse, error) {
	k, ok := req.Key.KeyType.(*keyservice.Key_AgeKey)
	if !ok {
		return e.fallback.Decrypt(ctx, req, opts...)
	}
	mk := &sopsage.MasterKey{Recipient: k.AgeKey.Recipient, EncryptedKey: string(req.Ciphertext)}
	e.ids.ApplyToMasterKey(mk)
	plain, err := mk.Decrypt()
	if err != nil {
		return e.fallback.Decrypt(ctx, req, opts...)
	}
	return &keyservice.DecryptResponse{Plaintext: plain}, nil
}

func (e explicitAge) Encrypt(ctx context.Context, req *keyservice.EncryptRequest, opts ...grpc.CallOption) (*keyservice.EncryptResponse, error) {
	return e.fallback.Encrypt(ctx, req, opts...)
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
