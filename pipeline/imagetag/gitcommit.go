package imagetag

import (
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/hubploy/hubploy/pipeline/gitrepo"
	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// GitMinLength is the shortest git-commit tag (hubploy 0.3's substring_with_alpha).
const GitMinLength = 7

// CommitTag returns hubploy 0.3's tag for the image folder dir: the last commit that
// changed it, as `git log -n 1 -- dir` finds it, cut to the shortest prefix of at least
// GitMinLength characters that holds a letter. As in 0.3, uncommitted changes do not
// count. It reads the repository in process; display names dir in errors.
func CommitTag(dir, display string) (string, error) {
	dir, err := folder(dir, display)
	if err != nil {
		return "", err
	}
	fail := func(msg, hint string, err error) (string, error) {
		return "", &inputerr.Error{File: display, Msg: msg, Hint: hint, Err: err}
	}
	const useContent = "or use tag_strategy: content"
	repo, rel, err := gitrepo.Open(dir, display, "tag_strategy git-commit", "work in a git clone (through Dagger: pass --git-dir=.git), "+useContent)
	if err != nil {
		return "", err
	}
	head, err := repo.Head()
	if err != nil {
		return fail("the git repository has no commit", "commit the image folder, "+useContent, err)
	}
	commit, err := repo.CommitObject(head.Hash())
	if err != nil {
		return fail("cannot read the git history: "+err.Error(), "", err)
	}
	shallow, err := gitrepo.Shallow(repo)
	if err != nil {
		return fail(err.Error(), "", err)
	}
	want, err := pathHash(commit, rel)
	if err != nil {
		return fail("cannot read the git history: "+err.Error(), "", err)
	}
	if want.IsZero() {
		return fail("is not committed to git, so it has no last commit", "commit it, "+useContent, nil)
	}
	// Follow history as git simplifies it for a path: through the first parent in which
	// the folder is the same, until a commit with no such parent, which changed it.
	for {
		if shallow[commit.Hash] {
			return fail(fmt.Sprintf("the git clone is shallow: its history ends at %s, before the folder's last change", commit.Hash.String()[:GitMinLength]),
				"fetch the full history (git fetch --unshallow; fetch-depth: 0 in actions/checkout), "+useContent, nil)
		}
		var same *object.Commit
		err := commit.Parents().ForEach(func(p *object.Commit) error {
			h, err := pathHash(p, rel)
			if err != nil {
				return err
			}
			if h == want {
				same = p
				return storer.ErrStop
			}
			return nil
		})
		if err != nil {
			return fail("cannot read the git history: "+err.Error(), "", err)
		}
		if same == nil {
			return withLetter(commit.Hash.String(), GitMinLength), nil
		}
		commit = same
	}
}

// pathHash is the object id of rel in commit's tree, or the zero hash if it is absent.
func pathHash(c *object.Commit, rel string) (plumbing.Hash, error) {
	tree, err := c.Tree()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if rel == "." {
		return tree.Hash, nil
	}
	e, err := tree.FindEntry(rel)
	if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return e.Hash, nil
}
