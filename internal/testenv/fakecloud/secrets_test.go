package fakecloud

import (
	"slices"
	"testing"
)

// The secrets of each form of credentials file are found; what is public is not.
func TestSecretValues(t *testing.T) {
	for _, tc := range []struct {
		file         string
		secret, open string
	}{
		{`{"appId": "a-public-app-id", "password": "Q~the-password", "tenant": "t"}`, "Q~the-password", "a-public-app-id"},
		{"creds:\n  aws_access_key_id: AKIAPUBLIC\n  aws_secret_access_key: the-secret-key\n", "the-secret-key", "AKIAPUBLIC"},
		{"[default]\naws_access_key_id = AKIAPUBLIC\naws_secret_access_key = the-secret-key\n", "the-secret-key", "AKIAPUBLIC"},
		{`{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq\n-----END PRIVATE KEY-----\n", "client_email": "a@b.iam.gserviceaccount.com"}`, "MIIEvQIBADANBgkq", "a@b.iam.gserviceaccount.com"},
	} {
		got := SecretValues([]byte(tc.file))
		if !slices.Contains(got, tc.secret) || slices.Contains(got, tc.open) {
			t.Errorf("%q: got %q", tc.file, got)
		}
	}
}
