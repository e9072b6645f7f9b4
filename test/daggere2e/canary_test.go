package daggere2e

import (
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/keys"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/sopstest"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

// moduleCanaries are secret values no output of the module may show in any form:
// quotes, a backslash, <&>, a control character and non-ASCII.
var moduleCanaries = []string{`k4n4ry-'q"b\s<&>-é-Z`, "c4nary-\x01-ctl-\u00fc-Q9"}

// canaryForms are the ways a template or a message can write s.
func canaryForms(s string) []string {
	j, _ := json.Marshal(s) // a string always marshals
	return []string{s, strconv.Quote(s), string(j), strings.ReplaceAll(s, "'", "''"),
		base64.StdEncoding.EncodeToString([]byte(s)), strings.ToUpper(s)}
}

// The module's functions on a repository whose secrets are canaries that templates
// escape, encode and transform: validate, render (and the files it exports), a dry-run
// deploy and decrypt show none of them, in any form, on stdout or stderr, nor in what
// the engine keeps on disk of the calls (engineRecords), the output of the CLI's
// container that each function runs included (decrypt's is sealed).
func TestModuleShowsNoCanary(t *testing.T) {
	setup(t)
	t.Parallel()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(fixture)); err != nil {
		t.Fatal(err)
	}
	// A template that writes the canaries as charts do.
	tpl := `apiVersion: v1
kind: ConfigMap
metadata:
  name: canary
data:
  yaml: {{ toYaml .Values.canary | quote }}
  json: {{ toJson .Values.canary | quote }}
  b64: {{ .Values.canary.a | b64enc }}
  upper: {{ .Values.canary.b | upper | quote }}
  quoted: {{ .Values.canary.a | quote }}
  url: {{ printf "%s@host" .Values.canary.b | quote }}
`
	if err := os.WriteFile(filepath.Join(dir, "hub/templates/canary.yaml"), []byte(tpl), 0o644); err != nil {
		t.Fatal(err)
	}
	// datahub's staging secrets, with the canaries added, encrypted for the example key.
	const file = "deployments/datahub/secrets/staging.yaml"
	rewriteSecrets(t, dir, file, nil, func(plain []byte) []byte {
		block, _ := json.Marshal(map[string]string{"a": moduleCanaries[0], "b": moduleCanaries[1]}) // JSON is YAML
		return append(plain, []byte("canary: "+string(block)+"\n")...)
	})

	flags := []string{"--repo=" + dir, "--age-key=file:" + example.AgeKeyFile(), "--chart-mirror=" + example.Z2JHRepository + "=offline-charts"}
	exported := t.TempDir()
	ns := kube.NewNamespace(t)
	runs := map[string]result{
		"validate": callModule(t, ".", append(flags, "validate", "--hub=datahub", "--env=staging")...),
		"render":   callModule(t, ".", append(flags, "render", "--hub=datahub", "--env=staging", "export", "--path="+exported)...),
		"deploy --dry-run": callModule(t, ".", append(append(flags, "deploy", "--env=staging", "--hub=datahub", "--skip-image-check", "--namespace="+ns, "--dry-run"),
			tunnelKubeconfig(t)...)...),
		"decrypt": callModule(t, ".", append(flags, "decrypt", "--file="+file)...),
	}
	// The canaries reached the chart (so the checks below can fail): every value of the
	// ConfigMap is there, masked.
	exportedText, _ := readTree(t, exported)
	doc := exportedText
	if i := strings.Index(doc, "name: canary"); i >= 0 {
		doc = doc[i:]
		if j := strings.Index(doc, "\n---"); j >= 0 {
			doc = doc[:j]
		}
	}
	if !strings.HasPrefix(doc, "name: canary") || strings.Count(doc, "<masked>") != 6 {
		t.Fatalf("render exported no masked canary ConfigMap:\n%s\n%s", doc, tail(runs["render"].output(), 20))
	}
	records := engineRecords(t)
	// render's export returns its path: the records of this test's calls are there.
	if !strings.Contains(records, exported) {
		t.Fatalf("the engine's records hold no result of this test's calls (export's path %s): they are not where engineRecords reads", exported)
	}
	// The module's functions run the CLI in a container: its stdout (the function's
	// result, as module-call writes it) is among the records too.
	if !strings.Contains(records, `{"output":"ok   datahub/staging`) {
		t.Fatal("the engine's records hold no stdout of the CLI's container (validate's module-call): they are not where engineRecords reads")
	}
	outputs := map[string]string{"render's files": exportedText, "the engine's records": records}
	for name, r := range runs {
		if r.err != nil {
			t.Errorf("%s failed: %v\n%s", name, r.err, tail(r.output(), 20))
		}
		outputs[name] = r.output()
	}
	checked := 0
	for name, out := range outputs {
		for _, c := range moduleCanaries {
			for _, form := range canaryForms(c) {
				checked++
				if strings.Contains(out, form) {
					t.Errorf("%s shows the canary %q as %q", name, c, form)
				}
			}
		}
	}
	t.Logf("%d canaries × %d outputs of the module checked (%d forms)", len(moduleCanaries), len(outputs), checked)
}

// engineRecords is what the engine keeps on disk of the calls it ran: the functions'
// results (output.json), the containers' output (stdout, stderr, combinedOutput) and
// its databases, under its state folder (HUBPLOY_DAGGER_STATE, which engine.sh start
// exports).
func engineRecords(t *testing.T) string {
	t.Helper()
	state := os.Getenv("HUBPLOY_DAGGER_STATE")
	if state == "" {
		t.Fatal("HUBPLOY_DAGGER_STATE is not set: dagger/engine.sh start exports it")
	}
	var all strings.Builder
	err := filepath.WalkDir(filepath.Join(state, "worker"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // the engine removes snapshots as it goes
		}
		// Regular files only: a container's /dev/stdout, in a snapshot, is a link to
		// whoever reads it.
		switch name := d.Name(); {
		case !d.Type().IsRegular(), name != "output.json" && name != "stdout" && name != "stderr" && name != "combinedOutput" && !strings.HasSuffix(name, ".db"):
			return nil
		}
		if data, err := os.ReadFile(p); err == nil {
			all.Write(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return all.String()
}

// rewriteSecrets decrypts file (relative to the repository at repo) with the
// example's age key, changes its cleartext with edit, and encrypts it again for mk,
// or for the example's key when mk is nil.
func rewriteSecrets(t *testing.T, repo, file string, mk keys.MasterKey, edit func(plain []byte) []byte) {
	t.Helper()
	key, err := os.ReadFile(example.AgeKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(repo, filepath.FromSlash(file))
	plain, _, err := (&secrets.Decrypter{AgeIdentities: []string{string(key)}}).ReadFile(path, file)
	if err != nil {
		t.Fatal(err)
	}
	plain = edit(plain)
	if mk == nil {
		if mk, err = sopsage.MasterKeyFromRecipient(example.Recipient(t)); err != nil {
			t.Fatal(err)
		}
	}
	enc, err := sopstest.EncryptFor(file, plain, mk)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, enc, 0o600); err != nil {
		t.Fatal(err)
	}
}
