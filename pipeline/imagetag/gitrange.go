package imagetag

import (
	"fmt"
	"strings"

	"github.com/hubploy/hubploy/pipeline/gitrepo"
	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// ChangedIn reports whether the folder dir differs between the ends of a git commit
// range, as hubploy 0.3's `--commit-range R` asked `git diff --name-only R -- dir`:
// "A..B" compares A with B, "A...B" the merge base of A and B with B, and a missing B
// (or a lone "A") means HEAD. Uncommitted changes do not count. The folder's tree
// hash says it: equal hashes, equal contents.
func ChangedIn(dir, display, commitRange string) (bool, error) {
	dir, err := folder(dir, display)
	if err != nil {
		return false, err
	}
	bad := func(msg string, err error) (bool, error) {
		return false, &inputerr.Error{Key: "--commit-range", Msg: fmt.Sprintf("%q: %s", commitRange, msg),
			Hint: "give A..B or A...B of commits the clone has (fetch-depth: 0 in actions/checkout)", Err: err}
	}
	repo, rel, err := gitrepo.Open(dir, display, "--commit-range", "work in a git clone, or build without --commit-range")
	if err != nil {
		return false, err
	}
	from, to, mergeBase := commitRange, "HEAD", false
	if a, b, ok := strings.Cut(commitRange, "..."); ok {
		from, to, mergeBase = a, b, true
	} else if a, b, ok := strings.Cut(commitRange, ".."); ok {
		from, to = a, b
	}
	if to == "" {
		to = "HEAD"
	}
	if from == "" {
		return bad("names no first commit", nil)
	}
	a, err := gitrepo.Commit(repo, from)
	if err != nil {
		return bad(err.Error(), err)
	}
	b, err := gitrepo.Commit(repo, to)
	if err != nil {
		return bad(err.Error(), err)
	}
	if mergeBase {
		bases, err := a.MergeBase(b)
		if err != nil || len(bases) == 0 {
			return bad("its two ends have no common ancestor in this clone", err)
		}
		a = bases[0]
	}
	before, err := pathHash(a, rel)
	if err != nil {
		return false, err
	}
	after, err := pathHash(b, rel)
	if err != nil {
		return false, err
	}
	return before != after, nil
}
