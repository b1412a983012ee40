package main

import (
	"strings"

	"github.com/planetgo/aggregator"
)

// What the public sees of the sources: their URLs without the credentials
// the admin put in them, and their failures as a class and an HTTP status,
// never the text that names internal hosts, addresses or DNS servers. The
// full text goes to the logs, /status.json (admin.allow) and `aggregator
// sources`.

// publicSources is sources with the user info taken out of their URLs, for
// the site.
func publicSources(sources []aggregator.Source) []aggregator.Source {
	out := make([]aggregator.Source, len(sources))
	for i, src := range sources {
		src.URL = aggregator.RedactURL(src.URL)
		out[i] = src
	}
	return out
}

// redactState is st with the user info taken out of every URL in it.
// Fetches record none since credentials went into the Authorization
// header alone, but a database written before may hold them.
func redactState(st aggregator.SourceState) aggregator.SourceState {
	st.URL = aggregator.RedactURL(st.URL)
	st.MovedTo = aggregator.RedactURL(st.MovedTo)
	st.RedirectTo = aggregator.RedactURL(st.RedirectTo)
	st.SiteLink = aggregator.RedactURL(st.SiteLink)
	st.LastError = redactURLsIn(st.LastError)
	return st
}

// redactURLsIn takes the user info out of each http(s) URL in text.
func redactURLsIn(text string) string {
	if !strings.Contains(text, "@") {
		return text
	}
	for _, f := range strings.Fields(text) {
		f = strings.Trim(f, `"'(),;<>`)
		if strings.HasPrefix(f, "http://") || strings.HasPrefix(f, "https://") {
			text = strings.ReplaceAll(text, f, aggregator.RedactURL(f))
		}
	}
	return text
}

// publicState is st as the public pages show it: URLs redacted, and the
// failure told by its public class (publicError) only.
func publicState(st aggregator.SourceState) aggregator.SourceState {
	st = redactState(st)
	if st.LastError == "" {
		return st
	}
	public := publicError(st.ErrorKind)
	st.LastError = public
	if st.ErrorKind != aggregator.ErrorKindDatabase {
		st.ErrorKind = public
	}
	return st
}

// publicError is the class of a failure of kind (a fetch.Kind, or
// "database"), as the public may see it: the HTTP status, or what went
// wrong in a word or two, but not which network failure it was, which
// would tell a feed's owner whether an address they redirected us to
// answers.
func publicError(kind string) string {
	switch {
	case strings.HasPrefix(kind, "http status "):
		return kind
	}
	switch kind {
	case "timeout", "too large", "not a feed", "too complex", "parse error",
		"redirect loop", "too many redirects", "host blocked":
		return kind
	case "database":
		return "database error"
	case "file":
		return "file error"
	}
	return "network error"
}
