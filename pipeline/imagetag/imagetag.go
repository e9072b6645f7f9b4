// Package imagetag computes an image's tag from the content of its build folder, so the
// same folder gives the same tag on every clone, shallow or not, in any CI.
package imagetag

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hubploy/hubploy/pipeline/inputerr"
)

// MinLength is the shortest tag; a tag is lengthened until it holds a letter so that
// YAML and helm never read it as a number (hubploy 0.3's rule).
const MinLength = 12

// ContentTag hashes every path under dir with its kind, executable bit and content (or
// link target). Modification times, owners and the order files were written in do not
// count. display names dir in errors.
func ContentTag(dir, display string) (string, error) {
	info, err := os.Stat(dir)
	if err != nil || !info.IsDir() {
		return "", &inputerr.Error{File: display, Msg: "image folder does not exist", Hint: "create it, or fix the image's path in hubploy.yaml"}
	}
	var entries []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		switch {
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			sum, err := fileSum(path)
			if err != nil {
				return err
			}
			entries = append(entries, fmt.Sprintf("f %s %t %s", rel, fi.Mode()&0o111 != 0, sum))
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			entries = append(entries, fmt.Sprintf("l %s %s", rel, target))
		case d.IsDir() && rel != ".":
			entries = append(entries, "d "+rel) // empty folders count: COPY keeps them
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("%s: hashing the image folder: %w", display, err)
	}
	sort.Strings(entries)
	h := sha256.New()
	for _, e := range entries {
		io.WriteString(h, e)
		h.Write([]byte{0})
	}
	return withLetter(hex.EncodeToString(h.Sum(nil)), MinLength), nil
}

func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// withLetter returns the shortest prefix of s at least minLen long that holds a letter.
func withLetter(s string, minLen int) string {
	i := strings.IndexFunc(s, func(r rune) bool { return r >= 'a' && r <= 'z' })
	if i < 0 {
		return s
	}
	return s[:min(len(s), max(minLen, i+1))]
}
