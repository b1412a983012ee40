package storage

import "golang.org/x/sys/unix"

// releaseMapped drops the resident pages of the first size bytes of the
// map at addr from the process (MADV_DONTNEED). On a shared read-only file
// map this loses nothing: the pages stay in the page cache.
func releaseMapped(addr uintptr, size int64) error {
	size &^= int64(unix.Getpagesize() - 1)
	if addr == 0 || size <= 0 {
		return nil
	}
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, addr, uintptr(size), unix.MADV_DONTNEED); errno != 0 {
		return errno
	}
	return nil
}
