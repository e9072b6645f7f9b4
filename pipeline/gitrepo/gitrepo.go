// Package gitrepo reads a deployment repository's git history in process, with go-git:
// hubploy never runs the git binary, so that it works in any container or CI.
package gitrepo

import (
	"fmt"
	"path/filepath"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// Open opens the git repository that holds dir, and gives dir's path in it with
// slashes; feature and hint say, in the error, what needs git and what to do without it.
func Open(dir, display, feature, hint string) (*git.Repository, string, error) {
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if err != nil {
		return nil, "", &inputerr.Error{File: display, Msg: "is not in a git repository, which " + feature + " needs", Hint: hint, Err: err}
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, "", &inputerr.Error{File: display, Msg: "is in a bare git repository", Hint: hint, Err: err}
	}
	// Both sides without symbolic links, so that the relative path is a path in it.
	root, err := filepath.EvalSymlinks(wt.Filesystem.Root())
	if err != nil {
		return nil, "", err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, "", err
	}
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		return nil, "", err
	}
	rel, err := filepath.Rel(root, dir)
	return repo, filepath.ToSlash(rel), err
}

// Commit is the commit rev names: a branch, a tag, a hash or an expression such as
// HEAD~2. The error names rev.
func Commit(repo *git.Repository, rev string) (*object.Commit, error) {
	h, err := repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rev, err)
	}
	c, err := repo.CommitObject(*h)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rev, err)
	}
	return c, nil
}

// Shallow is the set of commits at which a shallow clone's history ends (their parents
// are not in the clone); empty for a full clone.
func Shallow(repo *git.Repository) (map[plumbing.Hash]bool, error) {
	list, err := repo.Storer.Shallow()
	if err != nil {
		return nil, fmt.Errorf("cannot read the git history: %w", err)
	}
	shallow := map[plumbing.Hash]bool{}
	for _, h := range list {
		shallow[h] = true
	}
	return shallow, nil
}

// ChangedFiles lists the paths whose content or mode differs between the trees of
// from and to, as `git diff --name-only from to` does (a rename is both its paths).
func ChangedFiles(from, to *object.Commit) ([]string, error) {
	a, err := from.Tree()
	if err != nil {
		return nil, err
	}
	b, err := to.Tree()
	if err != nil {
		return nil, err
	}
	changes, err := object.DiffTree(a, b)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, ch := range changes {
		for _, name := range []string{ch.From.Name, ch.To.Name} {
			if name != "" && (len(files) == 0 || files[len(files)-1] != name) {
				files = append(files, name)
			}
		}
	}
	return files, nil
}

// Short is a commit hash as people read it.
func Short(h plumbing.Hash) string { return h.String()[:7] }
