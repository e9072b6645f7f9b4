package cluster_test

import (
	"strings"
	"testing"

	"github.com/hubploy/hubploy/pipeline/cluster"
	"github.com/hubploy/hubploy/pipeline/secrets"
)

func withServer(server, user string) []byte {
	return []byte(`apiVersion: v1
kind: Config
current-context: c
clusters:
- name: c
  cluster: {server: "` + server + `"}
users:
- name: u
  user: ` + user + `
contexts:
- name: c
  context: {cluster: c, user: u}
`)
}

// A server URL's user and password are in no message (Access.Server) and in no request
// URL (client-go's errors quote those): they become basic auth, as Go's HTTP client
// made of them, unless the kubeconfig has other credentials.
func TestServerURLCredentials(t *testing.T) {
	h := hub(t, "cluster:\n  provider: kubeconfig\n  kubeconfig:\n    filename: kubeconfig.yaml\n", map[string][]byte{})
	for _, tc := range []struct {
		name, user, wantUser, wantPassword string
	}{
		{"no other credentials", "{}", "us3r\"<&>", "p@ss w0rd"},
		{"a token", "{token: t0ken-s3cret}", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := cluster.ForHub(h, "ns", &secrets.Decrypter{}, cluster.Options{
				Kubeconfig: withServer("https://us3r%22%3C&%3E:p%40ss%20w0rd@127.0.0.1:1/", tc.user)})
			if err != nil {
				t.Fatal(err)
			}
			if a.Server != "https://127.0.0.1:1/" {
				t.Errorf("Server = %q", a.Server)
			}
			rc, err := a.Getter.ToRESTConfig()
			if err != nil {
				t.Fatal(err)
			}
			if rc.Host != "https://127.0.0.1:1/" || rc.Username != tc.wantUser || rc.Password != tc.wantPassword {
				t.Errorf("host %q, basic auth %q %q", rc.Host, rc.Username, rc.Password)
			}
		})
	}
	// A server address that is no URL is refused without its credentials.
	_, err := cluster.ForHub(h, "ns", &secrets.Decrypter{}, cluster.Options{Kubeconfig: withServer("https://us3r:p4ssw0rd-s3cret@[::1", "{token: t0ken-s3cret}")})
	if err == nil || strings.Contains(err.Error(), "p4ssw0rd") || strings.Contains(err.Error(), "t0ken") {
		t.Errorf("got %v", err)
	}
}
