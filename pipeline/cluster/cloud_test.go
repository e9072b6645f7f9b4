package cluster_test

import (
	"encoding/pem"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/testenv/fakecloud"
	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/inputerr"
)

func certPEM(s *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
}

func slicesContain(list []string, s string) bool { return slices.Contains(list, s) }

// assertRefusedOnFirstUse checks that access a, made offline, fails when first used
// (the cloud asked) with one line of bad input that starts with want and holds no
// secret of credentials or tokens.
func assertRefusedOnFirstUse(t *testing.T, a *cluster.Access, want string, credentials []byte, tokens []string) {
	t.Helper()
	_, err := a.Getter.ToRESTConfig()
	if err == nil || !inputerr.Is(err) || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	assertNoSecret(t, err.Error(), credentials, tokens)
}

// assertNoSecret fails when out holds a token, or a secret value of a credentials
// file.
func assertNoSecret(t *testing.T, out string, credentials []byte, tokens []string) {
	t.Helper()
	for _, s := range append(fakecloud.SecretValues(credentials), tokens...) {
		if strings.Contains(out, s) {
			t.Fatalf("the output holds a secret (%.6s…):\n%s", s, out)
		}
	}
}
