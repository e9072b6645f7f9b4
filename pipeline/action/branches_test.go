package action

import (
	"context"
	"testing"

	"github.com/hubploy/hubploy/internal/gittest"
)

func TestVerifyBranches(t *testing.T) {
	r := gittest.New(t)
	r.Commit("init", map[string]string{"README.md": "hi\n"})
	r.Branch("staging")
	r.Branch("prod")
	c, err := New(Settings{RepoDir: r.Dir})
	if err != nil {
		t.Fatal(err)
	}
	v := &VerifyBranches{Config: c}
	if res, err := v.Run(context.Background()); err != nil || !res.OK || res.Staging != "staging" || res.Prod != "prod" {
		t.Fatalf("%+v, %v", res, err)
	}
	r.Commit("on prod", nil)
	v.Staging, v.Prod = "main", "prod"
	if res, err := v.Run(context.Background()); err != nil || res.OK || res.Staging != "main" || len(res.Strays) != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
}
