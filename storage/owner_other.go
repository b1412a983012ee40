//go:build !unix

package storage

import "os"

// keepOwnerAndMode gives the file at dst the mode of the file at src.
func keepOwnerAndMode(dst, src string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	return os.Chmod(dst, fi.Mode().Perm())
}
