package config

import (
	"math"
	"time"
)

// The upper bounds of the counts and sizes. They are far above what a
// planet needs (a feed of every item a test stores asks for 100,000), and
// far below what would overflow or exhaust the code that uses them: the
// pass runs 4× fetch.concurrency workers, storage adds a scan budget to
// the items a render asks for, which are page.items × page.pages (at most
// 10^8, a limit on what is read, never an allocation), and fetch reads up
// to max_bytes+1 into memory.
const (
	maxConcurrency = 1000       // fetch.concurrency and fetch.per_host
	maxItems       = 100_000    // publish.items and page.items
	maxPages       = 1000       // page.pages
	maxKept        = 10_000_000 // retention.max_items
	maxBodyBytes   = 1 << 30    // fetch.max_bytes
)

// positive returns *v, or def when v is nil. v must be at most most.
func (ck *checker) positive(key string, v *int, def, most int) int {
	if v == nil || !ck.isWhole(key) {
		return def
	}
	switch {
	case *v <= 0:
		ck.errorf(ck.line(key), "%s must be greater than 0, not %d", key, *v)
	case *v > most:
		ck.errorf(ck.line(key), "%s must be at most %d, not %d", key, most, *v)
	}
	return *v
}

// nonNegative returns *v, or 0 when v is nil.
func (ck *checker) nonNegative(key string, v *int) int {
	if v == nil || !ck.isWhole(key) {
		return 0
	}
	if *v < 0 {
		ck.errorf(ck.line(key), "%s must be 0 (no limit) or more, not %d", key, *v)
		return 0
	}
	return *v
}

// isWhole reports whether the value at key, decoded into an int, is a whole
// number, recording a mistake when it is a decimal: yaml.v3 cuts 1.5 to 1
// without a word. Other types are reported by the decoder, as are decimals
// too large for an int.
func (ck *checker) isWhole(key string) bool {
	n, _ := lookup(ck.doc, keyPath(key)...)
	switch n = resolve(n); n.ShortTag() {
	case "!!int":
		return true
	case "!!float":
		var f float64
		// The test yaml.v3 makes before it takes a float (decode.go,
		// decoder.scalar); NaN fails it.
		if n.Decode(&f) == nil && f <= math.MaxInt64 {
			ck.errorf(n.Line, "%s: want a whole number, got %q", key, n.Value)
		}
	}
	return false
}

// duration returns the duration s, or def when s is empty. Only when zeroOK
// may it be 0.
func (ck *checker) duration(key, s string, def time.Duration, zeroOK bool) time.Duration {
	if s == "" {
		return def
	}
	d, err := parseDuration(s)
	switch {
	case err != nil:
		ck.errorf(ck.line(key), "%s %q %v", key, s, err)
	case d == 0 && !zeroOK:
		ck.errorf(ck.line(key), "%s must be longer than 0", key)
	}
	return d
}

// atLeast returns d, recording a mistake when it is shorter than least but
// not 0 (duration said so).
func (ck *checker) atLeast(key string, d, least time.Duration) time.Duration {
	if d > 0 && d < least {
		ck.errorf(ck.line(key), "%s must be at least %s, not %v", key, phrase(shortDuration(least)), d)
	}
	return d
}

// size returns the number of bytes s stands for, or def when s is empty. It
// must be at most most bytes, written in the message as mostText; 0 is no
// bound.
func (ck *checker) size(key, s string, def, most int64, mostText string) int64 {
	if s == "" {
		return def
	}
	n, err := parseSize(s)
	switch {
	case err != nil:
		ck.errorf(ck.line(key), "%s %q %v", key, s, err)
	case n == 0:
		ck.errorf(ck.line(key), "%s must be greater than 0", key)
	case most > 0 && n > most:
		ck.errorf(ck.line(key), "%s must be at most %s, not %d bytes", key, phrase(mostText), n)
	}
	return n
}
