// Package gittest makes real git repositories for tests, with go-git: commits on
// branches, merges, history rewritten as a force-push leaves it, and shallow clones.
package gittest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Repo is a git repository with a working tree, on branch main when made.
type Repo struct {
	t    testing.TB
	Dir  string
	Repo *git.Repository
	when time.Time
}

// New makes an empty repository in a temporary folder.
func New(t testing.TB) *Repo {
	t.Helper()
	return Init(t, t.TempDir())
}

// Init makes a repository in dir, whose files are not committed yet.
func Init(t testing.TB, dir string) *Repo {
	t.Helper()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	if err != nil {
		t.Fatal(err)
	}
	return &Repo{t: t, Dir: dir, Repo: repo, when: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

// Commit writes files (path → content; an empty content removes the file) and commits
// every change of the working tree on the current branch.
func (r *Repo) Commit(msg string, files map[string]string) plumbing.Hash {
	r.t.Helper()
	return r.commit(msg, files, nil)
}

// Merge commits a merge of branch into the current branch: files are the merged
// working tree's changes, as the test resolves them.
func (r *Repo) Merge(msg, branch string, files map[string]string) plumbing.Hash {
	r.t.Helper()
	head, err := r.Repo.Head()
	if err != nil {
		r.t.Fatal(err)
	}
	return r.commit(msg, files, []plumbing.Hash{head.Hash(), r.Hash(branch)})
}

func (r *Repo) commit(msg string, files map[string]string, parents []plumbing.Hash) plumbing.Hash {
	r.t.Helper()
	for name, content := range files {
		p := filepath.Join(r.Dir, filepath.FromSlash(name))
		var err error
		if content == "" {
			err = os.Remove(p)
		} else if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			r.t.Fatal(err)
		}
	}
	wt := r.worktree()
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		r.t.Fatal(err)
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: r.signature(), Parents: parents, AllowEmptyCommits: true})
	if err != nil {
		r.t.Fatal(err)
	}
	return h
}

// signature is a committer whose clock moves a minute a commit, so that history is
// in order.
func (r *Repo) signature() *object.Signature {
	r.when = r.when.Add(time.Minute)
	return &object.Signature{Name: "t", Email: "t@example.org", When: r.when}
}

// Branch creates branch at the current commit and checks it out.
func (r *Repo) Branch(branch string) {
	r.t.Helper()
	if err := r.worktree().Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName(branch), Create: true}); err != nil {
		r.t.Fatal(err)
	}
}

// Checkout checks out an existing branch.
func (r *Repo) Checkout(branch string) {
	r.t.Helper()
	if err := r.worktree().Checkout(&git.CheckoutOptions{Branch: plumbing.NewBranchReferenceName(branch)}); err != nil {
		r.t.Fatal(err)
	}
}

// Rewrite points branch at a new commit without parents that has the tree of the
// current commit: the history it had is gone, as after a force-push of a rewritten one.
func (r *Repo) Rewrite(branch, msg string) plumbing.Hash {
	r.t.Helper()
	head, err := r.Repo.Head()
	if err != nil {
		r.t.Fatal(err)
	}
	c, err := r.Repo.CommitObject(head.Hash())
	if err != nil {
		r.t.Fatal(err)
	}
	sig := r.signature()
	orphan := &object.Commit{Author: *sig, Committer: *sig, Message: msg, TreeHash: c.TreeHash}
	obj := r.Repo.Storer.NewEncodedObject()
	if err := orphan.Encode(obj); err != nil {
		r.t.Fatal(err)
	}
	h, err := r.Repo.Storer.SetEncodedObject(obj)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.Repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(branch), h)); err != nil {
		r.t.Fatal(err)
	}
	return h
}

// Hash is the commit branch points at.
func (r *Repo) Hash(branch string) plumbing.Hash {
	r.t.Helper()
	ref, err := r.Repo.Reference(plumbing.NewBranchReferenceName(branch), true)
	if err != nil {
		r.t.Fatal(err)
	}
	return ref.Hash()
}

func (r *Repo) worktree() *git.Worktree {
	r.t.Helper()
	wt, err := r.Repo.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	return wt
}

// Clone clones the repository with branch checked out and every branch as origin's,
// with only their last depth commits when depth is not 0, as CI checkouts do, and
// returns the clone's folder. go-git serves a local clone with git's upload-pack (its
// own server has no shallow fetches), so the test is skipped without git.
func (r *Repo) Clone(branch string, depth int) string {
	r.t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		r.t.Skip("git is not installed: go-git clones local repositories with its upload-pack")
	}
	dir := r.t.TempDir()
	_, err := git.PlainClone(dir, false, &git.CloneOptions{URL: "file://" + r.Dir, Depth: depth,
		ReferenceName: plumbing.NewBranchReferenceName(branch)})
	if err != nil {
		r.t.Fatal(err)
	}
	return dir
}
