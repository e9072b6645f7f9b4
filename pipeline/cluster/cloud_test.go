package cluster_test

import (
	"encoding/pem"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func certPEM(s *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
}

func slicesContain(list []string, s string) bool { return slices.Contains(list, s) }

// assertNoSecret fails when out holds a token, or a value of credentials (a JSON or
// YAML document, or an INI file's values), or a line of one.
func assertNoSecret(t *testing.T, out string, credentials []byte, tokens []string) {
	t.Helper()
	secrets := slices.Clone(tokens)
	var doc map[string]any
	if yaml.Unmarshal(credentials, &doc) == nil {
		var collect func(v any)
		collect = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, c := range v {
					if k != "type" && !strings.HasSuffix(k, "_uri") && k != "client_email" && k != "project_id" {
						collect(c)
					}
				}
			case string:
				secrets = append(secrets, v)
			}
		}
		collect(doc)
	}
	for _, line := range strings.Split(string(credentials), "\n") {
		if _, v, ok := strings.Cut(line, "="); ok {
			secrets = append(secrets, strings.TrimSpace(v))
		}
	}
	for _, s := range secrets {
		for _, part := range strings.Split(s, "\n") {
			if len(part) >= 8 && strings.Contains(out, part) {
				t.Fatalf("the output holds a secret (%.6s…):\n%s", part, out)
			}
		}
	}
}
