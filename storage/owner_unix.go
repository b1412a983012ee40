//go:build unix

package storage

import (
	"os"
	"syscall"
)

// keepOwnerAndMode gives the file at dst the owner, group and mode of the
// file at src. Changing the owner needs root, or the owner already right:
// a compact run by the file's owner changes nothing.
func keepOwnerAndMode(dst, src string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	dfi, err := os.Stat(dst)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	dst0, ok0 := dfi.Sys().(*syscall.Stat_t)
	if ok && ok0 && (st.Uid != dst0.Uid || st.Gid != dst0.Gid) {
		if err := os.Chown(dst, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	return os.Chmod(dst, fi.Mode().Perm())
}
