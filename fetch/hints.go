package fetch

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// freshFor returns how long the response says it stays fresh: its
// Cache-Control max-age, else its Expires date less its Date (RFC 9111
// 4.2.1), or 0 when it says neither. A source's hints may only lengthen its
// interval, so no-cache and no-store, which ask for revalidation we do
// anyway, count as 0.
func freshFor(h http.Header, now time.Time) time.Duration {
	for directive := range strings.SplitSeq(strings.Join(h.Values("Cache-Control"), ","), ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(directive), "=")
		switch strings.ToLower(name) {
		case "no-cache", "no-store":
			return 0
		case "max-age":
			n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64)
			if err != nil || n <= 0 {
				return 0
			}
			return seconds(n)
		}
	}
	expires := h.Get("Expires")
	if expires == "" {
		return 0
	}
	// An invalid date, such as "0", means already expired (RFC 9111 5.3).
	exp, err := http.ParseTime(expires)
	if err != nil {
		return 0
	}
	date := now
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		date = d
	}
	return max(exp.Sub(date), 0)
}

// retryAfter returns the time a Retry-After header names, in delay-seconds
// or as an HTTP date (RFC 9110 10.2.3), and false when there is none or it
// cannot be read.
func retryAfter(h http.Header, now time.Time) (time.Time, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return time.Time{}, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return time.Time{}, false
		}
		return now.Add(seconds(n)), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

// seconds converts n seconds to a Duration, saturating rather than
// overflowing.
func seconds(n int64) time.Duration {
	const most = int64(1<<63-1) / int64(time.Second)
	return time.Duration(min(n, most)) * time.Second
}
