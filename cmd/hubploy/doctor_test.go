package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hubploy/hubploy/internal/registrytest"
	"github.com/hubploy/hubploy/pipeline/action"
)

// doctor names each finding on a line; a cluster it cannot reach fails its line and the
// exit code, the registry it can read is said so, and the kubeconfig's token shows
// nowhere. A hub that does not exist is bad input.
func TestDoctor(t *testing.T) {
	reg := registrytest.Serve(t, "", "")
	repo, tag := imagesRepo(t, reg.Host)
	reg.Push(t, reg.Host+"/datahub/user-image:"+tag)
	const token = "doctor-kube-token-0123456789"
	kubeconfig := writeFile(t, repo, "kubeconfig.yaml", "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://"+registrytest.Unreachable(t)+"'}}]\n"+
		"users: [{name: u, user: {token: "+token+"}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n")
	c := newCLI(t, repo)
	secrets := append(exampleSecrets(t), token)

	code, out, errOut := c.run("doctor", "datahub", "staging", "--kubeconfig", kubeconfig)
	for _, want := range []string{"cluster credentials   ok      " + kubeconfig, "cluster               failed  https://", "connection refused",
		"registry              ok      " + reg.Host + ": can read; 1 of 2 image tags present (missing " + reg.Host + "/datahub/prebuilt:v9)",
		"datahub/staging: some of what hubploy needs is not reachable"} {
		if code != 1 || !strings.Contains(out, want) {
			t.Errorf("exit %d, want 1 and %q:\n%s%s", code, want, out, errOut)
		}
	}
	code, out, errOut = c.run("doctor", "datahub", "staging", "--kubeconfig", kubeconfig, "-o", "json")
	var res action.DoctorResult
	if err := json.Unmarshal([]byte(out), &res); code != 1 || err != nil || res.OK || len(res.Lines) != 4 || res.Lines[1].OK || !res.Lines[3].OK {
		t.Errorf("exit %d, %v: %+v\n%s", code, err, res, errOut)
	}
	for _, s := range secrets {
		if strings.Contains(out+errOut, s) {
			t.Fatalf("the output holds a secret (%.6s…)", s)
		}
	}

	if code, _, errOut := c.run("doctor", "nohub", "staging"); code != 2 || !strings.Contains(errOut, "nohub") {
		t.Errorf("an unknown hub: exit %d: %s", code, errOut)
	}
}
