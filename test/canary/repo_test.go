package canary

import (
	"encoding/base64"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/hubploy/hubploy/internal/example"
	"github.com/hubploy/hubploy/internal/hubtest"
	"github.com/hubploy/hubploy/internal/registrytest"
	"github.com/hubploy/hubploy/internal/sopstest"
)

// canaryTemplate applies to the secrets what templates do to values: toYaml, toJson,
// toPrettyJson, quote, b64enc, upper, trunc, sha256sum, printf, tpl; fail and required
// quoting one, and a label the API server refuses, each behind a switch of its own.
const canaryTemplate = `apiVersion: v1
kind: ConfigMap
metadata:
  name: canary
  {{- if .Values.canaryFail.api }}
  labels:
    canary: {{ .Values.canary.a | quote }}
  {{- end }}
data:
  yaml: |
    {{- .Values.canary | toYaml | nindent 4 }}
  json: {{ .Values.canary | toJson | quote }}
  pretty: |
    {{- .Values.canary | toPrettyJson | nindent 4 }}
  quoted: {{ .Values.canary.a | quote }}
  b64: {{ .Values.canary.a | b64enc }}
  upper: {{ .Values.canary.a | upper | quote }}
  cut: {{ .Values.canary.a | trunc 12 | quote }}
  sum: {{ .Values.canary.a | sha256sum }}
  host: {{ printf "%s@host" .Values.canary.a | quote }}
  tpl: {{ tpl "{{ .Values.canary.a | upper }}" . | quote }}
  tplText: {{ tpl .Values.canary.b . | quote }}
  {{- if .Values.canary.removed }}
  removed: {{ .Values.canary.removed | b64enc }}
  {{- end }}
  renamed: {{ .Values.canary.renamed | default "" | b64enc }}
  multi: |
    {{- .Values.canary.multi | nindent 4 }}
{{- if .Values.canaryFail.fail }}
{{- fail (printf "canary says %q" .Values.canary.a) }}
{{- end }}
{{- if .Values.canaryFail.required }}
{{- required (printf "need %s" (b64enc .Values.canary.a)) .Values.canaryFail.missing }}
{{- end }}
`

// repo is a copy of hubs-example in which every secret is a canary:
//   - datahub's secrets (sops-encrypted) feed the canary template and z2jh's own
//     secrets; secrets/schema.yaml (encrypted, given with --values) breaks a schema
//     pattern;
//   - datahub's kubeconfig (encrypted) has a token and a server URL with a user and
//     password, on an address that refuses connections;
//   - datahub's registry credentials (an encrypted docker config) log in to a test
//     registry;
//   - stat20's secrets are unencrypted, as in a git-crypt repository: staging's feed the
//     template, prod's are not YAML.
//
// kubeconfig is the test cluster's, with a user holding a canary token besides; down
// is a kubeconfig whose server URL carries canary credentials and refuses connections.
type repo struct {
	root, kubeconfig, down string
	recipient              string
	c                      *canaries
	staging                *secretsFile // datahub's, which the deploys use
}

// stagingSecrets is datahub's staging secrets file, which the steps of a test change.
const stagingSecrets = "deployments/datahub/secrets/staging.yaml"

func newRepo(t *testing.T, c *canaries) *repo {
	t.Helper()
	r := &repo{root: example.Copy(t), c: c, recipient: example.Recipient(t)}
	r.write(t, "hub/templates/canary.yaml", canaryTemplate)
	r.appendTo(t, "hub/values.yaml", "canaryFail: {api: false, fail: false, required: false}\n")
	r.write(t, "hub/values.schema.json", strings.Replace(r.read(t, "hub/values.schema.json"),
		`"properties": {`, `"properties": {"canarySchema": {"type": "string", "pattern": "^[a-z]+$"},`, 1))

	r.staging = r.newSecrets("datahub staging")
	r.encrypt(t, stagingSecrets, r.staging.yaml())
	r.encrypt(t, "deployments/datahub/secrets/prod.yaml", r.newSecrets("datahub prod").yaml())
	r.encrypt(t, "deployments/datahub/secrets/schema.yaml", "canarySchema: "+strconv.Quote(c.add("schema pattern"))+"\n")
	r.encrypt(t, "deployments/datahub/secrets/kubeconfig.yaml", r.hubKubeconfig(t))
	reg := registrytest.Serve(t, "hubploy", c.add("registry password"))
	r.encrypt(t, "deployments/datahub/secrets/registry.json", fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, reg.Host,
		base64.StdEncoding.EncodeToString([]byte("hubploy:"+c.values[len(c.values)-1]))))
	r.write(t, "deployments/datahub/hubploy.yaml", `images:
  images:
    - name: `+reg.Host+`/datahub/user-image
      path: image
      helm_substitution_path: jupyterhub.singleuser.image
  registry:
    provider: dockerconfig
    dockerconfig:
      filename: registry.json
cluster:
  provider: kubeconfig
  kubeconfig:
    filename: kubeconfig.yaml
`)
	r.write(t, "deployments/stat20/secrets/staging.yaml", r.newSecrets("stat20 staging (unencrypted)").yaml())
	r.write(t, "deployments/stat20/secrets/prod.yaml", "jupyterhub: [unclosed, "+strconv.Quote(c.add("stat20 prod (not YAML)"))+"\n")

	r.kubeconfig = r.clusterKubeconfig(t)
	r.down = filepath.Join(t.TempDir(), "down.yaml")
	down, err := kube.KubeconfigFor((&url.URL{Scheme: "https", User: url.UserPassword(c.add("down user"), c.add("down password")), Host: "127.0.0.1:1"}).String())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.down, down, 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// secretsFile is a hub's secret values, all canaries: z2jh's secrets, and those under
// canary, which the canary template reads.
type secretsFile struct {
	zeroToJupyterHub map[string]string // secretToken, client_id, client_secret
	canary           map[string]string
}

func (r *repo) newSecrets(name string) *secretsFile {
	return &secretsFile{
		zeroToJupyterHub: map[string]string{
			"secretToken":   r.c.addHex(name + " secretToken"), // z2jh's schema wants hex
			"client_id":     r.c.add(name + " client_id"),
			"client_secret": r.c.add(name + " client_secret"),
			"checkToken":    r.c.addHex(name + " check token"), // the health-check service's, hex as JupyterHub's own
		},
		canary: map[string]string{
			"a":       r.c.add(name + " a"),
			"b":       r.c.add(name + " b"),
			"removed": r.c.add(name + " removed"),
			"renamed": r.c.add(name + " renamed"),
			"multi":   r.c.addLines(name + " multi-line"),
		},
	}
}

func (s *secretsFile) yaml() string {
	var b strings.Builder
	z := s.zeroToJupyterHub
	fmt.Fprintf(&b, "jupyterhub:\n  proxy:\n    secretToken: %s\n", strconv.Quote(z["secretToken"]))
	fmt.Fprintf(&b, "  hub:\n    config:\n      GitHubOAuthenticator:\n        client_id: %s\n        client_secret: %s\n",
		strconv.Quote(z["client_id"]), strconv.Quote(z["client_secret"]))
	fmt.Fprintf(&b, "    services:\n      %s:\n        admin: true\n        apiToken: %s\n", hubtest.ServiceName, strconv.Quote(z["checkToken"]))
	b.WriteString("canary:\n")
	for _, k := range slices.Sorted(maps.Keys(s.canary)) {
		fmt.Fprintf(&b, "  %s: %s\n", k, strconv.Quote(s.canary[k]))
	}
	return b.String()
}

// hubKubeconfig is datahub's kubeconfig: canary credentials, an address that refuses
// connections.
func (r *repo) hubKubeconfig(t *testing.T) string {
	t.Helper()
	server := (&url.URL{Scheme: "https", User: url.UserPassword(r.c.add("hub kubeconfig user"), r.c.add("hub kubeconfig password")), Host: "127.0.0.1:1"}).String()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["hub"] = &clientcmdapi.Cluster{Server: server}
	cfg.AuthInfos["hub"] = &clientcmdapi.AuthInfo{Token: r.c.add("hub kubeconfig token")}
	cfg.Contexts["hub"] = &clientcmdapi.Context{Cluster: "hub", AuthInfo: "hub"}
	cfg.CurrentContext = "hub"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// clusterKubeconfig is the test cluster's kubeconfig, with another user whose token is
// a canary, written to a file.
func (r *repo) clusterKubeconfig(t *testing.T) string {
	t.Helper()
	cfg, err := clientcmd.Load(kube.Kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	cfg.AuthInfos["canary"] = &clientcmdapi.AuthInfo{Token: r.c.add("cluster kubeconfig token")}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (r *repo) read(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(r.root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func (r *repo) write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(r.root, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (r *repo) appendTo(t *testing.T, name, content string) {
	t.Helper()
	r.write(t, name, r.read(t, name)+content)
}

// encrypt writes plain to name, sops-encrypted for the example's key.
func (r *repo) encrypt(t *testing.T, name, plain string) {
	t.Helper()
	r.write(t, name, string(sopstest.MustEncrypt(t, name, []byte(plain), r.recipient)))
}
