// Package branches checks the rule of the staging → prod flow: a change reaches prod
// only through staging, so the prod branch holds only commits that are on the staging
// branch, plus the merge commits that brought them over.
package branches

import (
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/hubploy/hubploy/pipeline/gitrepo"
	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// Result is what the check found.
type Result struct {
	Staging     string `json:"staging"` // the branch as given
	StagingHash string `json:"staging_commit"`
	Prod        string `json:"prod"`
	ProdHash    string `json:"prod_commit"`
	OK          bool   `json:"ok"`
	// Strays are the commits of prod that are not on staging and are not merges,
	// newest first.
	Strays []Commit `json:"strays"`
}

// Commit is one commit, as people read it.
type Commit struct {
	Hash    string `json:"hash"`
	Subject string `json:"subject"`
}

// Verify checks the branches staging and prod of the git clone that holds dir. A
// branch the clone has only as origin's (a CI checkout) is found there.
func Verify(dir, staging, prod string) (*Result, error) {
	repo, _, err := gitrepo.Open(dir, dir, "verify-branches", "run it in a git clone")
	if err != nil {
		return nil, err
	}
	shallow, err := gitrepo.Shallow(repo)
	if err != nil {
		return nil, err
	}
	if len(shallow) > 0 {
		return nil, &inputerr.Error{File: dir, Msg: "is a shallow git clone: which commits are on a branch needs its whole history",
			Hint: "fetch it (fetch-depth: 0 in actions/checkout, or git fetch --unshallow)"}
	}
	s, err := branch(repo, "--staging", staging)
	if err != nil {
		return nil, err
	}
	p, err := branch(repo, "--prod", prod)
	if err != nil {
		return nil, err
	}
	onStaging := map[plumbing.Hash]bool{}
	err = object.NewCommitPreorderIter(s, nil, nil).ForEach(func(c *object.Commit) error {
		onStaging[c.Hash] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the history of %s: %w", staging, err)
	}
	res := &Result{Staging: staging, StagingHash: gitrepo.Short(s.Hash), Prod: prod, ProdHash: gitrepo.Short(p.Hash), Strays: []Commit{}}
	// The walk stops at staging's commits: their ancestors are all on staging.
	err = object.NewCommitPreorderIter(p, onStaging, nil).ForEach(func(c *object.Commit) error {
		if c.NumParents() < 2 {
			subject, _, _ := strings.Cut(strings.TrimSpace(c.Message), "\n")
			res.Strays = append(res.Strays, Commit{Hash: gitrepo.Short(c.Hash), Subject: subject})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the history of %s: %w", prod, err)
	}
	res.OK = len(res.Strays) == 0
	return res, nil
}

// branch resolves the branch name, given by flag, or else origin's branch of that name.
func branch(repo *git.Repository, flag, name string) (*object.Commit, error) {
	c, err := gitrepo.Commit(repo, name)
	if err == nil {
		return c, nil
	}
	if c, originErr := gitrepo.Commit(repo, "refs/remotes/origin/"+name); originErr == nil {
		return c, nil
	}
	return nil, &inputerr.Error{Key: flag, Msg: fmt.Sprintf("the clone has no branch %s, nor origin/%s", name, name),
		Hint: "fetch it (git fetch origin " + name + "), or name the branch with " + flag, Err: err}
}

// Text says whether the rule holds, and lists the commits that break it.
func (r *Result) Text() string {
	if r.OK {
		return fmt.Sprintf("ok: every commit of %s (%s) is on %s (%s) or is a merge\n", r.Prod, r.ProdHash, r.Staging, r.StagingHash)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s) has %d commit(s) that are not on %s (%s) and are not merges: make them on %s and merge it into %s\n",
		r.Prod, r.ProdHash, len(r.Strays), r.Staging, r.StagingHash, r.Staging, r.Prod)
	for _, c := range r.Strays {
		fmt.Fprintf(&b, "  %s %s\n", c.Hash, c.Subject)
	}
	return b.String()
}
