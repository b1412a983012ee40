// Package alloctest measures what a call allocates, for tests that bound
// the work of hostile inputs by counting instead of timing: allocations do
// not depend on how busy the machine is.
package alloctest

import "runtime"

// Of returns the bytes and the number of heap allocations of one call of
// f: the least of two calls, which leaves out what the first pays for
// initialising on first use, and what a goroutine another test left
// running allocated meanwhile (memory statistics are the process's).
func Of(f func()) (bytes, count uint64) {
	var before, after runtime.MemStats
	for i := range 2 {
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		b, c := after.TotalAlloc-before.TotalAlloc, after.Mallocs-before.Mallocs
		if i == 0 || b < bytes {
			bytes = b
		}
		if i == 0 || c < count {
			count = c
		}
	}
	return bytes, count
}
