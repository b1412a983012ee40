package aggregator

import "strings"

// RedactURL returns s without the user name and password in its authority
// (https://user:pass@host/feed becomes https://host/feed), and otherwise as
// it was written. Credentials in a source's URL are for its requests alone:
// every URL that is shown, logged or resolved against goes through this.
// Text with no "//" authority, or none with an "@", is returned unchanged.
func RedactURL(s string) string {
	i := strings.Index(s, "//")
	if i < 0 {
		return s
	}
	start := i + 2
	end := len(s)
	if j := strings.IndexAny(s[start:], "/?#"); j >= 0 {
		end = start + j
	}
	at := strings.LastIndexByte(s[start:end], '@')
	if at < 0 {
		return s
	}
	return s[:start] + s[start+at+1:]
}
