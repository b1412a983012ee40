// Package aggregator holds the domain types every other package shares: the
// configured Source, its stored SourceState, and the normalised Item. It
// imports only the standard library; config, fetch, storage and publish
// import it, and only cmd/aggregator imports them all.
package aggregator

import (
	"errors"
	"fmt"
	"time"
)

// ErrNotFound is returned when a source, section or item does not exist.
var ErrNotFound = errors.New("not found")

// Source is one feed the admin configured.
type Source struct {
	Name     string   // stable id, unique in the config
	URL      string   // http(s) URL, or a local file path
	Title    string   // the admin's override of the feed's own title; may be empty
	Sections []string // names of the sections it belongs to
	Schedule string   // cron spec overriding the global schedule; may be empty
	// Image is the admin's face for the source: an http(s) URL, or a path
	// below the theme's static/ directory; "" for the feed's own image.
	Image string

	// Identity says how items are told apart: IdentityGUID, IdentityLink,
	// IdentityHash, or "" for GUID, else link, else hash, with a fallback to
	// links when the feed repeats GUIDs.
	Identity string
	// KeepDuplicates exempts the source's items from cross-source
	// deduplication by canonical link.
	KeepDuplicates bool
	// Internal says the admin put the source on their own network: it may
	// be fetched from a loopback, private or link-local address, and its
	// redirects may lead to one. Without it only a URL naming such an
	// address outright (or localhost) may; see fetch.IsInternal.
	Internal bool

	// RenamedFrom lists names the source had before: its state, items and
	// the public ids of its items carry over from the first of them the
	// store knows, so that readers see no change.
	RenamedFrom []string
}

// The values of Source.Identity.
const (
	IdentityGUID = "guid" // the GUID or Atom id, even when the feed repeats them
	IdentityLink = "link" // the item's link, for feeds whose GUIDs change
	IdentityHash = "hash" // a hash of title, content and date
)

// SourceState is what the aggregator remembers of a source between fetches.
type SourceState struct {
	Name string // Source.Name

	FeedTitle   string    // the title the feed gives itself
	SiteLink    string    // the feed's link to its web site
	FeedID      string    // the feed's own id (Atom's atom:id); empty when it gives none
	FeedUpdated time.Time // UTC; when the feed says it last changed, else its newest item's date, neither later than when it was read; zero when unknown
	Image       string    // the feed's own image (RSS image, Atom logo or icon, JSON Feed icon or favicon): an absolute URL; may be empty

	// PublishedAs is the name the public ids of the source's items are made
	// from: the source's name when the store first saw it, kept through
	// renames (Source.RenamedFrom). Storage owns it: "" means Name.
	PublishedAs string

	// Validators for the next conditional request, and the hash of the last
	// body parsed, so that an unchanged 200 is not parsed again.
	ETag         string
	LastModified string
	BodyHash     string

	LastAttempt         time.Time // UTC; zero when never fetched
	LastSuccess         time.Time // UTC; zero when never fetched successfully
	LastOutcome         string    // what the last fetch came to: an Outcome* constant; "" before the first
	LastNew             int       // items the last fetch that stored items stored for the first time
	LastUpdated         int       // stored items it changed
	LastError           string    // the last failure's reason; empty after a success
	ErrorKind           string    // the last failure classified: "timeout", "http status 404"…; empty after a success
	ConsecutiveFailures int
	NextAttempt         time.Time // UTC; when the scheduler fetches the source next; zero means at once

	// Where the source is fetched from. URL is the configured URL these
	// fields were recorded for: when the config names another, they reset.
	URL           string
	RedirectTo    string // where the last fetch was permanently (301/308) redirected; empty if it was not
	RedirectCount int    // consecutive fetches permanently redirected to RedirectTo
	MovedTo       string // fetched instead of URL once the same permanent redirect was seen 3 times
	Gone          bool   // the source answered 410 Gone: the scheduler no longer polls it

	// RetryAfter is when a 429 or 503 answer asked us to come back to
	// RetryAfterHost; no request goes to that host before then.
	RetryAfter     time.Time
	RetryAfterHost string
}

// The values of SourceState.LastOutcome.
const (
	OutcomeStored      = "stored"       // the feed was read and its items stored (LastNew, LastUpdated)
	OutcomeNotModified = "not modified" // a 304, or the same body again
	OutcomeFailed      = "failed"       // LastError and ErrorKind say why; NextAttempt when it is tried again
	OutcomeGone        = "gone"         // a 410: no longer polled
)

// Result is what the last fetch of a source came to, in words: "new 3",
// "updated 1", "new 2, updated 1", "not modified", "error: REASON; next
// attempt TIME", "gone: REASON; no longer polled", followed by "; moved to
// URL" when the source has moved. It is "" before the first fetch.
func (st SourceState) Result() string {
	var r string
	switch st.LastOutcome {
	case OutcomeStored:
		switch {
		case st.LastUpdated == 0:
			r = fmt.Sprintf("new %d", st.LastNew)
		case st.LastNew == 0:
			r = fmt.Sprintf("updated %d", st.LastUpdated)
		default:
			r = fmt.Sprintf("new %d, updated %d", st.LastNew, st.LastUpdated)
		}
	case OutcomeNotModified:
		r = "not modified"
	case OutcomeGone:
		r = "gone: " + st.LastError + "; no longer polled"
	case OutcomeFailed:
		r = "error: " + st.LastError
		switch {
		case st.ErrorKind == ErrorKindDatabase:
			r += "; retried next pass"
		case !st.NextAttempt.IsZero():
			r += "; next attempt " + st.NextAttempt.UTC().Format(time.RFC3339)
		}
	default:
		return ""
	}
	if st.MovedTo != "" {
		r += "; moved to " + st.MovedTo
	}
	return r
}

// ErrorKindDatabase is the SourceState.ErrorKind of a fetch whose items our
// own database failed to store: the source did nothing wrong.
const ErrorKindDatabase = "database"

// DisplayTitle is the title to show for src: the admin's override, else the
// feed's own title, else the source's name.
func DisplayTitle(src Source, st SourceState) string {
	switch {
	case src.Title != "":
		return src.Title
	case st.FeedTitle != "":
		return st.FeedTitle
	}
	return src.Name
}

// Item is one entry of a source, normalised by fetch: URLs absolute, text
// valid UTF-8, times in UTC.
type Item struct {
	ID       string // identity within its source: GUID/id, else link, else a content hash; never empty
	SourceID string // Source.Name

	Title      string // plain text
	Link       string // absolute URL; may be empty
	Content    string // HTML; may be empty
	Summary    string // HTML; may be empty
	Author     string // plain text name; may be empty
	Categories []string
	Enclosures []Enclosure

	Published time.Time // zero when the feed gives none
	Updated   time.Time // zero when the feed gives none, or one later than when it was read (fetch drops it)
	FirstSeen time.Time // set by storage when the item is first stored

	// AlsoIn names the other sources whose copies of this article (same
	// canonical link) a query collapsed into this one, in the order it
	// met them; set by queries, never stored.
	AlsoIn []string
}

// Enclosure is a file attached to an item, such as a podcast episode.
type Enclosure struct {
	URL    string
	Type   string // MIME type; may be empty
	Length int64  // bytes; 0 when unknown
}

// Date is the time an item is ordered by and shown as published: its
// published date, clamped to when it was first seen so that a future date
// cannot pin it to the top, and the first-seen time when it has no date.
func (it Item) Date() time.Time {
	if it.Published.IsZero() || (!it.FirstSeen.IsZero() && it.Published.After(it.FirstSeen)) {
		return it.FirstSeen
	}
	return it.Published
}
