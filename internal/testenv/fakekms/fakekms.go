// Package fakekms serves, over TLS on loopback, the key services sops wraps its data
// keys with: HashiCorp Vault's transit engine, AWS KMS, Google Cloud KMS and Azure Key
// Vault. Each serves the exchanges its service documents (the requests sops' SDKs make,
// the answers and the errors the service gives) and checks the credential the service
// checks: a Vault token, an AWS SigV4 signature, a Google or Entra ID bearer token. A
// test that wires a credential wrongly therefore fails as it would against the cloud.
//
// Ciphertexts are AES-GCM under a key each fake draws at start, bound to the key name
// (and AWS's encryption context), so only the fake that made one opens it, and only for
// the same key.
package fakekms

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
)

// box seals and opens the fakes' ciphertexts.
type box struct{ aead cipher.AEAD }

func newBox() box {
	key := make([]byte, 32)
	rand.Read(key)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	return box{aead}
}

// seal encrypts plain for the key named by aad.
func (b box) seal(plain []byte, aad string) []byte {
	nonce := make([]byte, b.aead.NonceSize())
	rand.Read(nonce)
	return b.aead.Seal(nonce, nonce, plain, []byte(aad))
}

// open decrypts what seal made for the same aad; ok is false for anything else.
func (b box) open(sealed []byte, aad string) (plain []byte, ok bool) {
	n := b.aead.NonceSize()
	if len(sealed) < n {
		return nil, false
	}
	plain, err := b.aead.Open(nil, sealed[:n], sealed[n:], []byte(aad))
	return plain, err == nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, contentType string, code int, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
