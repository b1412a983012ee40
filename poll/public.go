package poll

import (
	"strings"

	"github.com/planetgo/aggregator"
)

// What the public sees of the sources: their URLs without the credentials
// the admin put in them, and their failures as a class and an HTTP status,
// never the text that names internal hosts, addresses or DNS servers. The
// full text goes to the logs, /status.json (admin.allow) and `aggregator
// sources`.

// PublicSources is sources with the user info taken out of their URLs, for
// the site.
func PublicSources(sources []aggregator.Source) []aggregator.Source {
	out := make([]aggregator.Source, len(sources))
	for i, src := range sources {
		src.URL = aggregator.RedactURL(src.URL)
		out[i] = src
	}
	return out
}

// PublicState is st as the public pages show it: URLs redacted, and the
// failure told by its public class (publicError) only.
func PublicState(st aggregator.SourceState) aggregator.SourceState {
	st = RedactState(st)
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
	if strings.HasPrefix(kind, "http status ") {
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
