package fakekms

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/getsops/sops/v3/kms"
)

// AWSKMS is AWS KMS's JSON protocol (docs.aws.amazon.com/kms/latest/APIReference):
// Encrypt and Decrypt, for one access key of one account, in one region.
type AWSKMS struct {
	Server *httptest.Server
	// Credentials is an access key KMS knows (long-term: no session token).
	Credentials aws.Credentials
	// Keys, if set, finds the other keys KMS takes, by id (those another fake handed
	// out to an identity allowed to use the key).
	Keys   func(id string) (aws.Credentials, bool)
	Region string
	box
}

// NewAWSKMS starts AWS KMS; it stops with the test.
func NewAWSKMS(t testing.TB) *AWSKMS {
	k := &AWSKMS{
		Credentials: aws.Credentials{AccessKeyID: "AKIA" + strings.ToUpper(randomHex(8)), SecretAccessKey: randomHex(20)},
		Region:      "eu-west-1",
		box:         newBox(),
	}
	k.Server = httptest.NewTLSServer(http.HandlerFunc(k.serve))
	t.Cleanup(k.Server.Close)
	return k
}

// KeyARN is the ARN of a key of the account.
func (k *AWSKMS) KeyARN(name string) string {
	return "arn:aws:kms:" + k.Region + ":111122223333:key/" + name
}

// kmsRequest is what Encrypt and Decrypt take (blobs are base64 in JSON, as []byte).
type kmsRequest struct {
	KeyId             string
	Plaintext         []byte
	CiphertextBlob    []byte
	EncryptionContext map[string]string
}

func (k *AWSKMS) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if code, msg := k.verifySigV4(r, body); code != "" {
		kmsError(w, code, msg)
		return
	}
	var in kmsRequest
	if err := json.Unmarshal(body, &in); err != nil || r.Method != http.MethodPost {
		kmsError(w, "SerializationException", "")
		return
	}
	// The context is bound to the ciphertext as KMS does: Decrypt needs the same one
	// (none and an empty one are the same).
	aad := in.KeyId
	if len(in.EncryptionContext) > 0 {
		context, _ := json.Marshal(in.EncryptionContext) // maps marshal with sorted keys
		aad += string(context)
	}
	switch r.Header.Get("X-Amz-Target") {
	case "TrentService.Encrypt":
		writeJSON(w, "application/x-amz-json-1.1", http.StatusOK, map[string]any{
			"CiphertextBlob": k.seal(in.Plaintext, aad), "KeyId": in.KeyId, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"})
	case "TrentService.Decrypt":
		plain, ok := k.open(in.CiphertextBlob, aad)
		if !ok {
			kmsError(w, "InvalidCiphertextException", "")
			return
		}
		writeJSON(w, "application/x-amz-json-1.1", http.StatusOK, map[string]any{
			"Plaintext": plain, "KeyId": in.KeyId, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"})
	default:
		kmsError(w, "UnknownOperationException", "")
	}
}

// verifySigV4 checks the request's Signature Version 4 as AWS does: the access key must
// be known, the scope this region's KMS, and the signature the one its secret gives.
// code and msg are AWS's error for what is wrong; code is "" when nothing is.
func (k *AWSKMS) verifySigV4(r *http.Request, body []byte) (code, msg string) {
	fields := map[string]string{}
	for _, f := range strings.Split(strings.TrimPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 "), ",") {
		if name, v, ok := strings.Cut(strings.TrimSpace(f), "="); ok {
			fields[name] = v
		}
	}
	scope := strings.Split(fields["Credential"], "/") // id/date/region/service/aws4_request
	when, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	creds, known := k.Credentials, len(scope) == 5 && scope[0] == k.Credentials.AccessKeyID
	if !known && len(scope) == 5 && k.Keys != nil {
		creds, known = k.Keys(scope[0])
	}
	switch {
	case len(scope) != 5 || err != nil:
		return "MissingAuthenticationTokenException", "Missing Authentication Token"
	case !known:
		return "UnrecognizedClientException", "The security token included in the request is invalid."
	case scope[2] != k.Region || scope[3] != "kms":
		return "InvalidSignatureException", "Credential should be scoped to a valid region and service."
	}
	// With the body, for its length: the signer takes content-length from the request.
	again, _ := http.NewRequest(r.Method, "https://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h != "host" {
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), "kms", k.Region, when); err != nil ||
		!strings.HasSuffix(again.Header.Get("Authorization"), "Signature="+fields["Signature"]) {
		return "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	}
	return "", ""
}

func kmsError(w http.ResponseWriter, code, msg string) {
	writeJSON(w, "application/x-amz-json-1.1", http.StatusBadRequest, map[string]string{"__type": code, "message": msg})
}

// MasterKey is sops' master key for key name with encryption context context, set up
// to encrypt against this KMS with Credentials. sops' key takes its endpoint only from
// the environment: t's gets AWS_ENDPOINT_URL_KMS.
func (k *AWSKMS) MasterKey(t *testing.T, name string, context map[string]*string) *kms.MasterKey {
	t.Setenv("AWS_ENDPOINT_URL_KMS", k.Server.URL)
	mk := kms.NewMasterKeyFromArn(k.KeyARN(name), context, "")
	kms.NewCredentialsProvider(credentials.NewStaticCredentialsProvider(k.Credentials.AccessKeyID, k.Credentials.SecretAccessKey, "")).ApplyToMasterKey(mk)
	kms.NewHTTPClient(k.Server.Client()).ApplyToMasterKey(mk)
	return mk
}
