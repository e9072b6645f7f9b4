package plan

import (
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/hubploy/hubploy/pipeline/gitrepo"
	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// Range is what changed from a base revision to a head, as a pull request shows it,
// in a folder of a git clone.
type Range struct {
	Base string // the merge base of base and head, whose tree the head's is compared to
	Head string
	// Files are the paths that differ, as `git diff --name-only base...head -- .` in
	// the folder lists them, relative to it.
	Files []string
	// Unrelated, when set, says that base and head share no history (base was
	// force-pushed away): no list of files tells what changed, and Files is empty.
	Unrelated string
}

// shallowHint is what to do when a shallow clone lacks the history a plan needs.
const shallowHint = "fetch more history (fetch-depth: 0 in actions/checkout, or git fetch --unshallow), or pass --changed-files"

// Changes reads, from the git clone that holds dir, the files of dir that changed between
// the merge base of the revisions base and head and head, as `git diff base...head` does.
func Changes(dir, base, head string) (*Range, error) {
	repo, rel, err := gitrepo.Open(dir, dir, "plan --base", "work in a git clone, or pass --changed-files")
	if err != nil {
		return nil, err
	}
	shallow, err := gitrepo.Shallow(repo)
	if err != nil {
		return nil, err
	}
	from, err := commit(repo, shallow, "--base", base)
	if err != nil {
		return nil, err
	}
	to, err := commit(repo, shallow, "--head", head)
	if err != nil {
		return nil, err
	}
	bases, err := mergeBase(from, to)
	if len(shallow) > 0 && (err != nil || len(bases) == 0) {
		return nil, &inputerr.Error{Key: "--base", Msg: fmt.Sprintf("the clone is shallow: its history ends before %s and %s meet", base, head), Hint: shallowHint, Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("finding the merge base of %s and %s: %w", base, head, err)
	}
	r := &Range{Head: gitrepo.Short(to.Hash)}
	if len(bases) == 0 {
		r.Unrelated = fmt.Sprintf("%s (%s) and %s (%s) share no history (was %s force-pushed?): no list of files can say what changed",
			base, gitrepo.Short(from.Hash), head, r.Head, base)
		return r, nil
	}
	r.Base = gitrepo.Short(bases[0].Hash)
	files, err := gitrepo.ChangedFiles(bases[0], to)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		if rel == "." {
			r.Files = append(r.Files, f)
		} else if f, ok := strings.CutPrefix(f, rel+"/"); ok {
			r.Files = append(r.Files, f)
		}
	}
	return r, nil
}

// commit resolves rev, given by flag; a clone that is shallow may just not have it.
func commit(repo *git.Repository, shallow map[plumbing.Hash]bool, flag, rev string) (*object.Commit, error) {
	c, err := gitrepo.Commit(repo, rev)
	switch {
	case err == nil:
		return c, nil
	case len(shallow) > 0:
		return nil, &inputerr.Error{Key: flag, Msg: fmt.Sprintf("%s is not in this clone, which is shallow", rev), Hint: shallowHint, Err: err}
	}
	return nil, &inputerr.Error{Key: flag, Msg: err.Error(), Hint: "name a commit, branch or tag the clone has", Err: err}
}

// mergeBase is from itself when it is an ancestor of to (a push's before and after):
// found walking back from to only, so a shallow clone holding from has enough history.
// Otherwise, or when that walk fails (a shallow clone's missing parents, which
// MergeBase meets and reports too), it is the best common ancestor.
func mergeBase(from, to *object.Commit) ([]*object.Commit, error) {
	if ok, err := from.IsAncestor(to); err == nil && ok {
		return []*object.Commit{from}, nil
	}
	return from.MergeBase(to)
}
