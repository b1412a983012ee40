package fetch

import (
	"strings"

	"github.com/mmcdole/gofeed"
)

// ItemNote says how fetch made one item of a feed what it is, for an admin
// trying a source (Client.Preview): what its ID was made from and why, and
// which of the feed's dates its Published is.
type ItemNote struct {
	// IdentityFrom is what the item's ID was made from:
	// aggregator.IdentityGUID, IdentityLink or IdentityHash.
	IdentityFrom string
	// IdentityWhy says why, when it is not the item's GUID ("no guid",
	// "the feed repeats this guid", "identity: link", "no guid, and no
	// link"…); "" for a GUID used as it is.
	IdentityWhy string
	// DateFrom is the feed's date that Item.Published holds: "published",
	// "updated" (the item has no published date), or "" when it has
	// neither.
	DateFrom string
	// UnreadDate is a date the item gives that could not be read (the
	// published one, else the updated one), as written; "" when none.
	UnreadDate string
}

// dateOf returns which of it's dates normalise takes as its published date
// (see ItemNote.DateFrom), and a date it gives that cannot be read.
// gofeed's Atom translator fills a missing published date with the updated
// one, the same *time.Time.
func dateOf(it *gofeed.Item) (from, unread string) {
	switch {
	case it.PublishedParsed != nil && it.PublishedParsed != it.UpdatedParsed:
		from = "published"
	case it.UpdatedParsed != nil:
		from = "updated"
	}
	published, updated := strings.TrimSpace(it.Published), strings.TrimSpace(it.Updated)
	switch {
	case from != "published" && published != "" && published != updated:
		unread = published
	case from == "" && updated != "":
		unread = updated
	}
	return from, clip(valid(unread), maxName)
}
