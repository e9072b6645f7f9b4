package action

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/getsops/sops/v3/keys"

	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/internal/testenv/fakecloud"
	"github.com/hubploy/hubploy/internal/testenv/fakekms"
	"github.com/hubploy/hubploy/pipeline/cloud"
)

// Credentials handed over open sops' keys of the kinds they stand for, with nothing
// from the environment: a GCP KMS key with the token Google gives the Google
// credentials, an AWS KMS key with the AWS keys (and with a role the key's metadata
// names, assumed with them), a PGP key and a Vault transit key. Without them, the same
// files do not open.
func TestCredentialsOpenSopsKeys(t *testing.T) {
	sopstest.NoAmbientCredentials(t)
	clouds := fakecloud.New(t)
	googleKey := clouds.GoogleServiceAccountKey(t, "sops@p.iam.gserviceaccount.com")
	gcp := fakekms.NewGCPKMS(t)
	gcp.Accept = func(token string) bool { return clouds.Principal(token) == "sops@p.iam.gserviceaccount.com" }
	awsKMS := fakekms.NewAWSKMS(t)
	keyID, keySecret, user := clouds.AWSUserKeys("ci")
	role := clouds.AWSRole("sops")
	usedKMS := map[string]bool{} // who used AWS KMS
	awsKMS.Keys = func(id string) (aws.Credentials, bool) {
		creds, arn, ok := clouds.AWSKey(id)
		usedKMS[arn] = ok
		return creds, ok
	}
	vault := fakekms.NewVault(t)
	pgpKey := sopstest.NewPGPKey(t)
	hub := "datahub"

	dir := t.TempDir()
	const plain = "hub:\n  token: s3cr3t-value\n"
	files := map[string]keys.MasterKey{
		"gcp.yaml": gcp.MasterKey("hubploy"), "aws.yaml": awsKMS.MasterKey(t, "hubploy", map[string]*string{"hub": &hub}),
		"pgp.yaml": pgpKey.MasterKey(t), "vault.yaml": vault.MasterKey("sops", "hubploy"),
		"aws-role.yaml": awsKMS.MasterKey(t, "hubploy", map[string]*string{"hub": &hub}),
	}
	for name, mk := range files {
		enc, err := sopstest.EncryptFor(name, []byte(plain), mk)
		if err != nil {
			t.Fatal(err)
		}
		if name == "aws-role.yaml" {
			// The role is metadata, outside the MAC: named after encrypting, since
			// encrypting with it would assume it at the real STS.
			arn := "- arn: " + awsKMS.KeyARN("hubploy") + "\n"
			enc = bytes.Replace(enc, []byte(arn), []byte(arn+"          role: "+role+"\n"), 1)
		}
		if err := os.WriteFile(filepath.Join(dir, name), enc, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("AWS_ENDPOINT_URL_KMS", "") // the Decrypter's endpoint is the given one

	// The fakes' servers each have their own CA: one client trusting all of them.
	client := clouds.Client()
	pool := client.Transport.(*http.Transport).TLSClientConfig.RootCAs
	for _, s := range []*httptest.Server{gcp.Server, awsKMS.Server, vault.Server} {
		pool.AddCert(s.Certificate())
	}
	apis := &cloud.APIs{HTTPClient: client, Google: cloud.GoogleAPI{KMSEndpoint: gcp.Server.URL},
		AWS: cloud.AWSAPI{KMSEndpoint: awsKMS.Server.URL, STSEndpoint: clouds.STSEndpoint()}}
	given := &Credentials{
		Clouds: cloud.Credentials{GoogleJSON: googleKey, AWS: &cloud.AWSCredentials{AccessKeyID: keyID, SecretAccessKey: keySecret},
			Source: "the test", Hint: func(string) string { return "" }},
		PGPKeys: []string{pgpKey.Armored}, VaultToken: vault.Token,
	}
	for name := range files {
		t.Run(name, func(t *testing.T) {
			for _, creds := range []*Credentials{given, nil} {
				c, err := New(Settings{RepoDir: dir, PathBase: dir, Clouds: apis, Credentials: creds})
				if err != nil {
					t.Fatal(err)
				}
				got, err := (&Decrypt{Config: c, File: name}).Run()
				switch {
				case creds != nil && (err != nil || !strings.Contains(string(got), "token: s3cr3t-value")):
					t.Errorf("with the credentials: %v\n%s", err, got)
				case creds == nil && err == nil:
					t.Error("opened without the credentials")
				case err != nil && (strings.Contains(err.Error(), vault.Token) || strings.Contains(err.Error(), keySecret)):
					t.Errorf("the error quotes a credential: %v", err)
				}
			}
			if want := map[string]string{"aws.yaml": user, "aws-role.yaml": fakecloud.AssumedRoleARN(role, "hubploy")}[name]; want != "" && !usedKMS[want] {
				t.Errorf("AWS KMS was not used as %s (used: %v)", want, usedKMS)
			}
		})
	}
}
