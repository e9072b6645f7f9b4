package secrets

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/azkv"
	"github.com/getsops/sops/v3/gcpkms"
	"github.com/getsops/sops/v3/hcvault"
	"github.com/getsops/sops/v3/keyservice"
	"golang.org/x/oauth2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// keyClient is the key service Decrypt uses: it decrypts a data key with the
// credentials the Decrypter was given for the key's kind, and hands the kinds it was
// given none for to sops' own local key service, which finds them as the sops CLI does.
type keyClient struct {
	age      sopsage.ParsedIdentities
	keys     KeyCredentials // HTTPClient never nil
	pgp      openpgp.EntityList
	fallback keyservice.KeyServiceClient
}

func (c keyClient) Decrypt(ctx context.Context, req *keyservice.DecryptRequest, opts ...grpc.CallOption) (*keyservice.DecryptResponse, error) {
	decrypt := c.decrypter(req.Key, string(req.Ciphertext))
	if decrypt == nil {
		return c.fallback.Decrypt(ctx, req, opts...)
	}
	plain, err := decrypt(ctx)
	if _, age := req.Key.KeyType.(*keyservice.Key_AgeKey); age && err != nil {
		// The given age identities are tried before the ones sops finds, not instead.
		return c.fallback.Decrypt(ctx, req, opts...)
	}
	if err != nil {
		return nil, err
	}
	return &keyservice.DecryptResponse{Plaintext: plain}, nil
}

func (c keyClient) Encrypt(ctx context.Context, req *keyservice.EncryptRequest, opts ...grpc.CallOption) (*keyservice.EncryptResponse, error) {
	return c.fallback.Encrypt(ctx, req, opts...)
}

// decrypter returns how to decrypt enc, a data key encrypted for key, with the
// credentials given for key's kind; nil when none are given.
func (c keyClient) decrypter(key *keyservice.Key, enc string) func(context.Context) ([]byte, error) {
	k := &c.keys
	switch key := key.KeyType.(type) {
	case *keyservice.Key_AgeKey:
		if len(c.age) > 0 {
			mk := &sopsage.MasterKey{Recipient: key.AgeKey.Recipient, EncryptedKey: enc}
			c.age.ApplyToMasterKey(mk)
			return func(context.Context) ([]byte, error) { return mk.Decrypt() }
		}
	case *keyservice.Key_PgpKey:
		if len(c.pgp) > 0 {
			return func(context.Context) ([]byte, error) { return decryptPGP(c.pgp, enc) }
		}
	case *keyservice.Key_GcpKmsKey:
		if k.GoogleTokenSource != nil {
			mk := &gcpkms.MasterKey{ResourceID: key.GcpKmsKey.ResourceId, EncryptedKey: enc}
			// Google's SDK adds no token to a client it is given: this one carries it.
			// The REST client, since the gRPC one would not go through HTTPClient. The
			// token source is set on the key too, so that sops looks for no other.
			authed := *k.HTTPClient
			authed.Transport = &oauth2.Transport{Source: k.GoogleTokenSource, Base: k.HTTPClient.Transport}
			opts := gcpkms.ClientOptions{option.WithHTTPClient(&authed)}
			if k.GCPKMSEndpoint != "" {
				opts = append(opts, option.WithEndpoint(k.GCPKMSEndpoint))
			}
			gcpkms.NewTokenSource(k.GoogleTokenSource).ApplyToMasterKey(mk)
			gcpkms.UseRESTClient{}.ApplyToMasterKey(mk)
			opts.ApplyToMasterKey(mk)
			return mk.DecryptContext
		}
	case *keyservice.Key_KmsKey:
		if k.AWS != nil {
			return func(ctx context.Context) ([]byte, error) { return k.decryptAWS(ctx, key.KmsKey, enc) }
		}
	case *keyservice.Key_AzureKeyvaultKey:
		if k.Azure != nil {
			v := key.AzureKeyvaultKey
			mk := &azkv.MasterKey{VaultURL: v.VaultUrl, Name: v.Name, Version: v.Version, EncryptedKey: enc}
			azkv.NewTokenCredential(k.Azure).ApplyToMasterKey(mk)
			azkv.NewClientOptions(&azkeys.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: k.HTTPClient}}).ApplyToMasterKey(mk)
			return mk.DecryptContext
		}
	case *keyservice.Key_VaultKey:
		if k.VaultToken != "" {
			v := key.VaultKey
			mk := &hcvault.MasterKey{VaultAddress: v.VaultAddress, EnginePath: v.EnginePath, KeyName: v.KeyName, EncryptedKey: enc}
			// Vault's client fills in a client's missing transport: it gets a copy.
			hc := *k.HTTPClient
			hcvault.Token(k.VaultToken).ApplyToMasterKey(mk)
			hcvault.NewHTTPClient(&hc).ApplyToMasterKey(mk)
			return mk.DecryptContext
		}
	}
	return nil
}

// decryptAWS decrypts with AWS KMS's own client: sops' key can be given no endpoint,
// and loads the shared config files for its profile.
func (k *KeyCredentials) decryptAWS(ctx context.Context, key *keyservice.KmsKey, enc string) ([]byte, error) {
	keyARN, err := arn.Parse(key.Arn)
	if err != nil {
		return nil, fmt.Errorf("AWS KMS key %q is not an ARN", key.Arn)
	}
	blob, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("the data key encrypted with AWS KMS key %s is not base64: %w", key.Arn, err)
	}
	cfg := aws.Config{Region: keyARN.Region, Credentials: k.AWS, HTTPClient: k.HTTPClient}
	if key.Role != "" {
		stsClient := sts.NewFromConfig(cfg, func(o *sts.Options) {
			if k.AWSSTSEndpoint != "" {
				o.BaseEndpoint = aws.String(k.AWSSTSEndpoint)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, key.Role,
			func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "hubploy" }))
	}
	client := kms.NewFromConfig(cfg, func(o *kms.Options) {
		if k.AWSKMSEndpoint != "" {
			o.BaseEndpoint = aws.String(k.AWSKMSEndpoint)
		}
	})
	out, err := client.Decrypt(ctx, &kms.DecryptInput{KeyId: aws.String(key.Arn), CiphertextBlob: blob, EncryptionContext: key.Context})
	if err != nil {
		return nil, fmt.Errorf("failed to decrypt sops data key with AWS KMS: %w", err)
	}
	return out.Plaintext, nil
}

// readPGPKeys reads the given OpenPGP private keys into one keyring. Its errors name a
// key by its place in the list, never by its content.
func readPGPKeys(armored []string) (openpgp.EntityList, error) {
	var ring openpgp.EntityList
	for i, a := range armored {
		bad := func(msg, hint string) error {
			return &inputerr.Error{File: fmt.Sprintf("the given PGP key %d", i+1), Msg: msg, Hint: hint}
		}
		entities, err := openpgp.ReadArmoredKeyRing(strings.NewReader(a))
		if err != nil || len(entities) == 0 {
			return nil, bad("is not an ASCII-armored OpenPGP key", "give what `gpg --export-secret-keys --armor` writes")
		}
		for _, e := range entities {
			if e.PrivateKey == nil {
				return nil, bad("holds no private key", "give what `gpg --export-secret-keys --armor` writes, not the public key")
			}
			protected := e.PrivateKey.Encrypted
			for _, sub := range e.Subkeys {
				protected = protected || sub.PrivateKey != nil && sub.PrivateKey.Encrypted
			}
			if protected {
				return nil, bad("is passphrase-protected", "give it without its passphrase: nothing here can ask for one")
			}
		}
		ring = append(ring, entities...)
	}
	return ring, nil
}

// decryptPGP decrypts a data key sops encrypted with OpenPGP (an armored message).
func decryptPGP(ring openpgp.EntityList, enc string) ([]byte, error) {
	block, err := armor.Decode(strings.NewReader(enc))
	if err != nil {
		return nil, fmt.Errorf("the PGP-encrypted data key is not armored: %w", err)
	}
	md, err := openpgp.ReadMessage(block.Body, ring, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to decrypt sops data key with the given PGP keys: %w", err)
	}
	plain, err := io.ReadAll(md.UnverifiedBody) // checks the message's integrity at its end
	if err != nil {
		return nil, fmt.Errorf("failed to decrypt sops data key with the given PGP keys: %w", err)
	}
	return plain, nil
}
