package secrets_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/getsops/sops/v3/azkv"
	"github.com/getsops/sops/v3/keys"
	"github.com/getsops/sops/v3/logging"
	"golang.org/x/oauth2"

	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/internal/testenv/fakekms"
	"github.com/hubploy/hubploy/pipeline/inputerr"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

// fixture is a file encrypted for one master key of a kind, and credentials for it.
type fixture struct {
	enc         []byte
	good, wrong secrets.KeyCredentials
	credentials []string // every credential value above, which no error or log may hold
	refusal     string   // what the service answers the wrong credential
	// sopsCannotReach: sops' own client cannot reach the fake (its host name resolves
	// only in the fake's client), so it cannot show what a missing credential does.
	sopsCannotReach bool
}

// encryptFor encrypts plain as `sops --encrypt` does, for mk alone.
func encryptFor(t *testing.T, mk keys.MasterKey) []byte {
	t.Helper()
	enc, err := sopstest.EncryptFor("secrets/prod.yaml", []byte(plain), mk)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(enc, []byte("s3cr3t-value")) {
		t.Fatal("fixture is not encrypted")
	}
	return enc
}

func vaultFixture(t *testing.T) fixture {
	v := fakekms.NewVault(t)
	mk := v.MasterKey("sops", "hubploy")
	// sops' own Vault client, given no credential, trusts the fake as Vault's CLI would.
	ca := filepath.Join(t.TempDir(), "vault-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: v.Server.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VAULT_CACERT", ca)
	wrong := "hvs." + randomHex(12)
	return fixture{enc: encryptFor(t, mk),
		good:        secrets.KeyCredentials{VaultToken: v.Token, HTTPClient: v.Server.Client()},
		wrong:       secrets.KeyCredentials{VaultToken: wrong, HTTPClient: v.Server.Client()},
		credentials: []string{v.Token, wrong}, refusal: "Code: 403. Errors: * permission denied"}
}

func awsFixture(t *testing.T) fixture {
	k := fakekms.NewAWSKMS(t)
	hub := "datahub"
	// The Decrypter never reads the environment's AWS_ENDPOINT_URL_KMS the key sets.
	mk := k.MasterKey(t, "hubploy", map[string]*string{"hub": &hub})
	c := k.Credentials
	wrongSecret := randomHex(20)
	keys := func(id, secret string) secrets.KeyCredentials {
		return secrets.KeyCredentials{AWS: credentials.NewStaticCredentialsProvider(id, secret, ""),
			HTTPClient: k.Server.Client(), AWSKMSEndpoint: k.Server.URL}
	}
	return fixture{enc: encryptFor(t, mk),
		good:        keys(c.AccessKeyID, c.SecretAccessKey),
		wrong:       keys(c.AccessKeyID, wrongSecret), // the right key id: only the signature can tell
		credentials: []string{c.SecretAccessKey, wrongSecret}, refusal: "api error InvalidSignatureException"}
}

func gcpFixture(t *testing.T) fixture {
	g := fakekms.NewGCPKMS(t)
	mk := g.MasterKey("hubploy")
	wrong := "ya29." + randomHex(16)
	keys := func(token string) secrets.KeyCredentials {
		return secrets.KeyCredentials{GoogleTokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}),
			HTTPClient: g.Server.Client(), GCPKMSEndpoint: g.Server.URL}
	}
	return fixture{enc: encryptFor(t, mk), good: keys(g.Token), wrong: keys(wrong), credentials: []string{g.Token, wrong},
		refusal: "Error 401: Request had invalid authentication credentials"}
}

// entraToken is an Entra ID credential that hands out one token, for Key Vault's scope.
type entraToken string

func (e entraToken) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if !slices.Equal(o.Scopes, []string{fakekms.AzureScope}) {
		return azcore.AccessToken{}, fmt.Errorf("no token for scopes %v", o.Scopes)
	}
	return azcore.AccessToken{Token: string(e), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func azureFixture(t *testing.T) fixture {
	a := fakekms.NewAzureKeyVault(t)
	mk := azkv.NewMasterKey(a.VaultURL(), "hubploy", "0123456789abcdef0123456789abcdef")
	azkv.NewTokenCredential(entraToken(a.Token)).ApplyToMasterKey(mk)
	azkv.NewClientOptions(&azkeys.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: a.Client()}}).ApplyToMasterKey(mk)
	wrong := "eyJ0eXAiOiJKV1Qi." + randomHex(16)
	return fixture{enc: encryptFor(t, mk),
		good:        secrets.KeyCredentials{Azure: entraToken(a.Token), HTTPClient: a.Client()},
		wrong:       secrets.KeyCredentials{Azure: entraToken(wrong), HTTPClient: a.Client()},
		credentials: []string{a.Token, wrong}, refusal: "RESPONSE 401: 401 Unauthorized", sopsCannotReach: true}
}

func pgpFixture(t *testing.T) fixture {
	key, wrong := sopstest.NewPGPKey(t), sopstest.NewPGPKey(t)
	return fixture{enc: encryptFor(t, key.MasterKey(t)),
		good:        secrets.KeyCredentials{PGPKeys: []string{key.Armored}},
		wrong:       secrets.KeyCredentials{PGPKeys: []string{wrong.Armored}},
		credentials: []string{privateBody(key.Armored), privateBody(wrong.Armored)}, refusal: "openpgp: incorrect key"}
}

// privateBody is a line from the middle of an armored key: key material, no header.
func privateBody(armored string) string {
	lines := strings.Split(armored, "\n")
	return lines[len(lines)/2]
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// captureSopsLogs collects what sops' key sources log, at every level.
func captureSopsLogs(t *testing.T) *bytes.Buffer {
	var b bytes.Buffer
	for _, l := range logging.Loggers {
		out, level := l.Out, l.GetLevel()
		l.SetOutput(&b)
		l.SetLevel(99) // everything, down to trace
		t.Cleanup(func() { l.SetOutput(out); l.SetLevel(level) })
	}
	return &b
}

// texts are the messages of err and of every error it wraps.
func texts(err error) []string {
	if err == nil {
		return nil
	}
	out := []string{err.Error()}
	if u, ok := err.(interface{ UserError() string }); ok { // sops' errors say each key's failure there
		out = append(out, u.UserError())
	}
	switch e := err.(type) {
	case interface{ Unwrap() error }:
		out = append(out, texts(e.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			out = append(out, texts(inner)...)
		}
	}
	return out
}

var kinds = []struct {
	name    string
	fixture func(*testing.T) fixture
}{
	{"hc_vault", vaultFixture}, {"kms", awsFixture}, {"gcp_kms", gcpFixture}, {"azure_kv", azureFixture}, {"pgp", pgpFixture},
}

// Each kind of master key decrypts with the credentials given, against a fake of its
// service that checks them; without them, or with wrong ones, the file cannot be
// decrypted, and no error or log holds a credential.
func TestDecryptWithKeyCredentials(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			sopstest.NoAmbientCredentials(t)
			f := kind.fixture(t)
			logs := captureSopsLogs(t)
			got, err := (&secrets.Decrypter{Keys: &f.good}).Decrypt("secrets/prod.yaml", f.enc)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != plain {
				t.Fatalf("got:\n%s", got)
			}
			cases := map[string]*secrets.Decrypter{"wrong credential": {Keys: &f.wrong}, "no credentials": {}}
			if f.sopsCannotReach {
				delete(cases, "no credentials")
			}
			for name, d := range cases {
				t.Run(name, func(t *testing.T) {
					_, err := d.Decrypt("secrets/prod.yaml", f.enc)
					want := "secrets/prod.yaml: no available key can decrypt it; it is encrypted for " + kind.name + " "
					if err == nil || !inputerr.Is(err) || !strings.HasPrefix(err.Error(), want) {
						t.Fatalf("got  %v\nwant %s…", err, want)
					}
					all := texts(err)
					// sops wraps each key's error in lines starting with |.
					flat := strings.Join(strings.Fields(strings.ReplaceAll(strings.Join(all, " "), "|", " ")), " ")
					if name == "wrong credential" && !strings.Contains(flat, f.refusal) {
						t.Errorf("not refused with %q: %s", f.refusal, all)
					}
					for _, text := range append(all, logs.String()) {
						for _, c := range f.credentials {
							if strings.Contains(text, c) {
								t.Errorf("a credential leaks: %s", text)
							}
						}
					}
				})
			}
		})
	}
}

// A kind given no credential is left to what sops finds, even when others are given.
func TestKeyCredentialsLeaveOtherKinds(t *testing.T) {
	sopstest.NoAmbientCredentials(t)
	key := sopstest.NewKey(t)
	t.Setenv("SOPS_AGE_KEY", key.Identity)
	enc := sopstest.MustEncrypt(t, "secrets/prod.yaml", []byte(plain), key.Recipient)
	vault := vaultFixture(t)
	got, err := (&secrets.Decrypter{Keys: &vault.good}).Decrypt("secrets/prod.yaml", enc)
	if err != nil || string(got) != plain {
		t.Fatalf("got %v:\n%s", err, got)
	}
}

// A PGP key that cannot be used is named by its place, never quoted.
func TestBadPGPKeys(t *testing.T) {
	key := sopstest.NewPGPKey(t)
	private := key.Armored
	var public bytes.Buffer
	w, _ := armor.Encode(&public, openpgp.PublicKeyType, nil)
	key.Entity.Serialize(w)
	w.Close()
	protected := sopstest.NewPGPKey(t).Entity
	if err := protected.EncryptPrivateKeys([]byte("passphrase"), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, key, want string }{
		{"not armored", privateBody(private), "the given PGP key 2: is not an ASCII-armored OpenPGP key"},
		{"public key", public.String(), "the given PGP key 2: holds no private key"},
		{"passphrase-protected", sopstest.ArmorPrivate(t, protected), "the given PGP key 2: is passphrase-protected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := (&secrets.Decrypter{Keys: &secrets.KeyCredentials{PGPKeys: []string{private, tc.key}}}).Decrypt("x.yaml", pgpFixture(t).enc)
			if err == nil || !inputerr.Is(err) || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("got  %v\nwant %s", err, tc.want)
			}
			for _, text := range texts(err) {
				if strings.Contains(text, privateBody(tc.key)) || strings.Contains(text, privateBody(private)) {
					t.Errorf("quotes a key: %s", text)
				}
			}
		})
	}
}
