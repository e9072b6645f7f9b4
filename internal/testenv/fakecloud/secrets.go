package fakecloud

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// publicKeys are the keys of credential files whose values are not secret.
var publicKeys = map[string]bool{"type": true, "project_id": true, "client_email": true, "client_id": true, "auth_uri": true, "token_uri": true,
	"appId": true, "displayName": true, "tenant": true, "aws_access_key_id": true}

// SecretValues are the secret strings of a credentials file (a JSON or YAML document,
// or an INI file), and each of their lines, for tests that look for them in output.
func SecretValues(file []byte) []string {
	var values []string
	add := func(v string) {
		for _, line := range strings.Split(v, "\n") {
			if line = strings.TrimSpace(line); len(line) >= 8 && !strings.HasPrefix(line, "-----") {
				values = append(values, line)
			}
		}
	}
	var doc any
	if yaml.Unmarshal(file, &doc) == nil {
		var collect func(v any)
		collect = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for k, c := range v {
					if !publicKeys[k] {
						collect(c)
					}
				}
			case string:
				add(v)
			}
		}
		collect(doc)
	}
	for _, line := range strings.Split(string(file), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !publicKeys[strings.TrimSpace(k)] {
			add(v)
		}
	}
	return values
}
