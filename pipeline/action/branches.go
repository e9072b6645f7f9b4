package action

import (
	"cmp"
	"context"

	"github.com/hubploy/hubploy/pipeline/branches"
)

// VerifyBranches checks the rule of the staging → prod flow: the prod branch holds only
// commits that are on the staging branch, plus merge commits. It reads the git clone
// of Settings.RepoDir, which need not be a deployment repository.
type VerifyBranches struct {
	*Config
	Staging string // empty: "staging"
	Prod    string // empty: "prod"
}

// Run checks the branches; a result that is not OK lists the commits that break the rule.
func (v *VerifyBranches) Run(context.Context) (*branches.Result, error) {
	return branches.Verify(cmp.Or(v.Settings.RepoDir, "."), cmp.Or(v.Staging, "staging"), cmp.Or(v.Prod, "prod"))
}
