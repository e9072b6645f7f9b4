// Package imagetag computes an image's tag from its build folder: by default a hash of
// the folder's content, the same on every clone, shallow or not, in any CI; or, as
// hubploy 0.3 did, the last git commit that changed the folder.
package imagetag

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// MinLength is the shortest content tag; a tag is lengthened until it holds a letter so
// that YAML and helm never read it as a number (hubploy 0.3's rule).
const MinLength = 12

// version starts the hashed text, so that a change to what is hashed is a deliberate
// one that renames every tag.
const version = "hubploy content tag v1\x00"

// entry is one path of the folder as it counts for the tag.
type entry struct {
	rel     string // slash-separated, relative to the folder
	symlink bool   // else a regular file
	target  string // the symlink's
	path    string // on disk, for hashing
	exec    bool
	sum     [sha256.Size]byte
}

// ContentTag hashes every regular file under dir (path, executable bit, content) and
// every symlink (path, target). Modification times, owners, other permission bits and
// the order files were written in do not count, and neither do folders on their own:
// git does not keep empty folders, so counting them would make a fresh clone differ
// from a working copy. display names dir in errors.
func ContentTag(dir, display string) (string, error) {
	dir, err := folder(dir, display)
	if err != nil {
		return "", err
	}
	var entries []*entry
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path) // cannot fail: WalkDir gives paths under dir
		e := &entry{rel: filepath.ToSlash(rel), path: path}
		switch t := d.Type(); {
		case t.IsDir():
			return nil
		case t.IsRegular():
		case t&fs.ModeSymlink != 0:
			e.symlink = true
			if e.target, err = os.Readlink(path); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s is not a file, folder or symlink: remove it from the image folder", e.rel)
		}
		entries = append(entries, e)
		return nil
	})
	if err == nil {
		err = hashFiles(entries)
	}
	if err != nil {
		return "", &inputerr.Error{File: display, Msg: "cannot hash the image folder: " + err.Error(), Err: err}
	}
	slices.SortFunc(entries, func(a, b *entry) int { return strings.Compare(a.rel, b.rel) })
	h := sha256.New() // a hash.Hash's Write never fails
	io.WriteString(h, version)
	for _, e := range entries {
		if e.symlink {
			fmt.Fprintf(h, "l %s\x00%s\x00", e.rel, e.target)
			continue
		}
		fmt.Fprintf(h, "f %s\x00%t\x00", e.rel, e.exec)
		h.Write(e.sum[:])
	}
	return withLetter(hex.EncodeToString(h.Sum(nil)), MinLength), nil
}

// folder resolves dir, which may be a symlink, and checks that it is a folder.
func folder(dir, display string) (string, error) {
	resolved, err := filepath.EvalSymlinks(dir)
	if err == nil {
		var info os.FileInfo
		if info, err = os.Stat(resolved); err == nil && !info.IsDir() {
			err = fs.ErrInvalid
		}
	}
	if err != nil {
		return "", &inputerr.Error{File: display, Msg: "image folder does not exist", Hint: "create it, or fix the image's path in hubploy.yaml"}
	}
	return resolved, nil
}

// hashFiles hashes the regular files in parallel: with many small files the time goes
// to system calls, with big ones to SHA-256, and both spread over cores.
func hashFiles(entries []*entry) error {
	var next atomic.Int64
	errs := make([]error, 2*runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for w := range errs {
		wg.Go(func() {
			buf := make([]byte, 256<<10)
			for i := int(next.Add(1)) - 1; i < len(entries) && errs[w] == nil; i = int(next.Add(1)) - 1 {
				if !entries[i].symlink {
					errs[w] = hashFile(entries[i], buf)
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func hashFile(e *entry, buf []byte) error {
	f, err := os.Open(e.path)
	if err != nil {
		return err
	}
	defer f.Close() // read only: closing loses nothing
	info, err := f.Stat()
	if err != nil {
		return err
	}
	e.exec = info.Mode()&0o111 != 0
	h := sha256.New()
	// Read by hand rather than io.Copy, which would ignore buf (os.File.WriteTo), and
	// stop at the size fstat gave: most files then cost one read call, not two.
	for size, done := info.Size(), int64(0); ; {
		n, err := f.Read(buf)
		h.Write(buf[:n])
		done += int64(n)
		if err == io.EOF || (err == nil && done >= size) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", e.rel, err)
		}
	}
	h.Sum(e.sum[:0])
	return nil
}

// withLetter returns the shortest prefix of s at least minLen long that holds a letter.
func withLetter(s string, minLen int) string {
	i := strings.IndexFunc(s, func(r rune) bool { return r >= 'a' && r <= 'z' })
	if i < 0 {
		return s
	}
	return s[:min(len(s), max(minLen, i+1))]
}
