// Package sopstest encrypts files with sops and age, the way `sops --encrypt` does, so
// tests can make real encrypted fixtures with keys they generate.
package sopstest

import (
	"testing"
	"time"

	"filippo.io/age"
	"github.com/getsops/sops/v3"
	"github.com/getsops/sops/v3/aes"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/keyservice"
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
	store := secrets.StoreFor(path)
	branches, err := store.LoadPlainFile(plain)
	if err != nil {
		return nil, err
	}
	mk, err := sopsage.MasterKeyFromRecipient(recipient)
	if err != nil {
		return nil, err
	}
	tree := sops.Tree{
		Branches: branches,
		Metadata: sops.Metadata{
			KeyGroups:         []sops.KeyGroup{{keys.MasterKey(mk)}},
			UnencryptedSuffix: "_unencrypted",
			Version:           version.Version,
		},
		FilePath: path,
	}
	dataKey, errs := tree.GenerateDataKeyWithKeyServices([]keyservice.KeyServiceClient{keyservice.NewLocalClient()})
	if len(errs) > 0 {
		return nil, errs[0]
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

// MustEncrypt is Encrypt for tests.
func MustEncrypt(t testing.TB, path string, plain []byte, recipient string) []byte {
	t.Helper()
	out, err := Encrypt(path, plain, recipient)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
