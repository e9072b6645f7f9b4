// Package sopstest encrypts files with sops, the way `sops --encrypt` does, so tests
// can make real encrypted fixtures with keys they generate: age, PGP, or any master
// key set up to reach a fake key service.
package sopstest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/pgp"
	"github.com/getsops/sops/v3/version"

	"github.com/hubploy/hubploy/pipeline/secrets"
)

// Key is a freshly generated age key pair.
type Key struct {
	Recipient string // age1…, public
	Identity  string // AGE-SECRET-KEY-1…, private
}

// NewKey generates an age key pair.
func NewKey(t testing.TB) Key {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return Key{Recipient: id.Recipient().String(), Identity: id.String()}
}

// Encrypt encrypts plain (a document in the format of path's extension) for recipient.
func Encrypt(path string, plain []byte, recipient string) ([]byte, error) {
	mk, err := sopsage.MasterKeyFromRecipient(recipient)
	if err != nil {
		return nil, err
	}
	return EncryptFor(path, plain, mk)
}

// EncryptFor encrypts plain (a document in the format of path's extension) as `sops
// --encrypt` does, for master key mk alone: one of any kind, set up to reach its key
// service (a test's fake).
func EncryptFor(path string, plain []byte, mk keys.MasterKey) ([]byte, error) {
	store := secrets.StoreFor(path)
	branches, err := store.LoadPlainFile(plain)
	if err != nil {
		return nil, err
	}
	tree := sops.Tree{
		Branches: branches,
		Metadata: sops.Metadata{
			KeyGroups:         []sops.KeyGroup{{mk}},
			UnencryptedSuffix: "_unencrypted",
			Version:           version.Version,
		},
		FilePath: path,
	}
	dataKey := make([]byte, 32)
	rand.Read(dataKey)
	if err := mk.Encrypt(dataKey); err != nil {
		return nil, err
	}
	cipher := aes.NewCipher()
	mac, err := tree.Encrypt(dataKey, cipher)
	if err != nil {
		return nil, err
	}
	tree.Metadata.LastModified = time.Now().UTC()
	if tree.Metadata.MessageAuthenticationCode, err = cipher.Encrypt(mac, dataKey, tree.Metadata.LastModified.Format(time.RFC3339)); err != nil {
		return nil, err
	}
	return store.EmitEncryptedFile(tree)
}

// PGPKey is a fresh OpenPGP key.
type PGPKey struct {
	Entity *openpgp.Entity
	// Armored is the private key, ASCII-armored and unprotected.
	Armored string
}

// NewPGPKey generates an OpenPGP key.
func NewPGPKey(t testing.TB) PGPKey {
	t.Helper()
	e, err := openpgp.NewEntity("hubploy", "", "ops@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	return PGPKey{Entity: e, Armored: ArmorPrivate(t, e)}
}

// ArmorPrivate is e's private key, ASCII-armored (protected if e's is).
func ArmorPrivate(t testing.TB, e *openpgp.Entity) string {
	t.Helper()
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PrivateKeyType, nil)
	if err == nil {
		err = e.SerializePrivateWithoutSigning(w, nil)
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// MasterKey is sops' master key for k, encrypting with a public keyring file (sops'
// only way) in a temporary folder of t's.
func (k PGPKey) MasterKey(t testing.TB) *pgp.MasterKey {
	t.Helper()
	var pub bytes.Buffer
	if err := k.Entity.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	ring := filepath.Join(t.TempDir(), "pubring.gpg")
	if err := os.WriteFile(ring, pub.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	mk := pgp.NewMasterKeyFromFingerprint(strings.ToUpper(hex.EncodeToString(k.Entity.PrimaryKey.Fingerprint)))
	pgp.PubRing(ring).ApplyToMasterKey(mk)
	return mk
}

// MustEncrypt is Encrypt for tests.
func MustEncrypt(t testing.TB, path string, plain []byte, recipient string) []byte {
	t.Helper()
	out, err := Encrypt(path, plain, recipient)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// NoAmbientCredentials leaves sops nothing to find in the environment, so that only
// what a test gives can decrypt, and a key service that is not given credentials
// fails fast rather than asking a cloud's metadata server.
func NoAmbientCredentials(t testing.TB) {
	home := t.TempDir()
	for k, v := range map[string]string{
		"HOME": home, "XDG_CONFIG_HOME": home, "GNUPGHOME": home, "SOPS_AGE_KEY_FILE": "", "SOPS_AGE_KEY": "",
		"VAULT_TOKEN": "", "VAULT_ADDR": "",
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CA_BUNDLE": "", // this machine's is for the real AWS
		// Google's SDK would otherwise ask for a metadata server for a minute.
		"GOOGLE_APPLICATION_CREDENTIALS": filepath.Join(home, "none.json"), "GOOGLE_CREDENTIALS": "", "GOOGLE_OAUTH_ACCESS_TOKEN": "",
		// Azure's would ask for managed identity's for ten seconds.
		"AZURE_TOKEN_CREDENTIALS": "AzureCLICredential", "AZURE_CLIENT_ID": "", "AZURE_TENANT_ID": "", "AZURE_CLIENT_SECRET": "",
	} {
		t.Setenv(k, v)
	}
}
