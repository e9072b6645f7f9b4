package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/example"
)

// moduleCallOf runs module-call as the Dagger module does, with the request in the
// environment and the example's key mounted as a file, and decodes its result.
func moduleCallOf(t *testing.T, c *cli, function string, args map[string]any, files map[string]string) (int, moduleResult, string) {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "ageKey")
	key, err := os.ReadFile(example.AgeKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	all := map[string]string{"ageKey": keyFile}
	for k, v := range files {
		all[k] = v
	}
	output := t.TempDir()
	req, err := json.Marshal(map[string]any{
		"function": function, "repo": c.repo, "args": args, "files": all, "output": output,
		"settings": map[string]any{"chart": "hub", "chartMirror": []string{c.mirror}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(moduleCallEnv, string(req))
	// Only what the module hands over: no key in the environment.
	t.Setenv("SOPS_AGE_KEY_FILE", "")
	t.Setenv("XDG_CACHE_HOME", c.cache)
	code, stdout, stderr := c.runExactly("module-call")
	var res moduleResult
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("module-call wrote no result (exit %d): %v\nstdout: %s\nstderr: %s", code, err, stdout, stderr)
	}
	return code, res, stderr
}

func TestModuleCall(t *testing.T) {
	c := newCLI(t, example.Dir())
	code, res, _ := moduleCallOf(t, c, "validate", map[string]any{"hub": []string{"datahub"}}, nil)
	if code != 0 || res.Error != "" || !strings.Contains(res.Output, "validated 2 hub environment(s): 2 ok, 0 failed") {
		t.Errorf("validate: exit %d, %+v", code, res)
	}

	// An error is the result's, with the exit code of a call that ran.
	code, res, _ = moduleCallOf(t, c, "render", map[string]any{"hub": "datahub", "env": "nosuchenv"}, nil)
	if code != 0 || res.Output != "" || !strings.Contains(res.Error, "nosuchenv") {
		t.Errorf("render of an unknown environment: exit %d, %+v", code, res)
	}
	code, res, _ = moduleCallOf(t, c, "nosuchfunction", nil, nil)
	if code != 0 || !strings.Contains(res.Error, `the module called "nosuchfunction"`) {
		t.Errorf("an unknown function: exit %d, %+v", code, res)
	}
}

// decrypt's result is the cleartext sealed with the module's channel key: nothing of
// the cleartext is in what module-call writes, and the key opens it.
func TestModuleCallDecryptIsSealed(t *testing.T) {
	c := newCLI(t, example.Dir())
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "channelKey")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
		t.Fatal(err)
	}
	file := "deployments/stat20/secrets/staging.yaml"
	code, res, stderr := moduleCallOf(t, c, "decrypt", map[string]any{"file": file}, map[string]string{"channelKey": keyFile})
	if code != 0 || res.Error != "" {
		t.Fatalf("decrypt: exit %d, %+v", code, res)
	}
	for _, secret := range exampleSecrets(t) {
		if strings.Contains(res.Output+stderr, secret) {
			t.Errorf("module-call shows the secret %q", secret)
		}
	}
	sealed, err := base64.StdEncoding.DecodeString(res.Output)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], nil)
	if err != nil {
		t.Fatalf("the channel key does not open decrypt's result: %v", err)
	}
	if !strings.Contains(string(plain), "secretToken: ") || strings.Contains(string(plain), "ENC[") {
		t.Errorf("decrypt's result opens to:\n%s", plain)
	}

	// Without the channel key nothing is decrypted.
	_, res, _ = moduleCallOf(t, c, "decrypt", map[string]any{"file": file}, nil)
	if res.Output != "" || !strings.Contains(res.Error, "no channel key") {
		t.Errorf("without a channel key: %+v", res)
	}
}
