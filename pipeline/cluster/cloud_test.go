package cluster_test

import (
	"encoding/pem"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/testenv/fakecloud"
)

func certPEM(s *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
}

func slicesContain(list []string, s string) bool { return slices.Contains(list, s) }

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
