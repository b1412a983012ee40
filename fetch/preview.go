package fetch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/planetgo/aggregator"
)

// Preview is what fetching a source now brings, told for an admin trying
// it before adding it (or to see why an item looks as it does): the feed
// and, for each of its items, how it was identified and the date it is
// ordered by.
type Preview struct {
	Result
	Items []PreviewItem // in the feed's order
}

// PreviewItem is one item of a Preview.
type PreviewItem struct {
	// Item is the item as it would be stored, first seen now.
	Item aggregator.Item
	ItemNote
	// Date is what the item would be ordered by and shown as published
	// (aggregator.Item.Date), and DateWhy says why it is not the feed's
	// date, when it is not: the item has none, or it is in the future.
	Date    time.Time
	DateWhy string
	// Canonical is the form of the item's link that cross-source
	// deduplication compares (aggregator.CanonicalLink); "" for none.
	Canonical string
}

// Preview fetches src now, unconditionally, and tells what each of its
// items is made of (see PreviewItem), taking every item as first seen now,
// as for a source not fetched before. It writes nothing and remembers
// nothing, but the Retry-After a host may answer with, as Fetch does.
//
// Its errors are Fetch's; for a page that is no feed it is a
// *NotFeedError, which wraps ErrNotFeed and lists the feeds the page
// names, if it is HTML.
func (c *Client) Preview(ctx context.Context, src aggregator.Source) (Preview, error) {
	var notes []ItemNote
	res, got, err := c.fetch(ctx, src, aggregator.SourceState{}, &notes)
	if errors.Is(err, ErrNotFeed) {
		nf := &NotFeedError{URL: got.res.URL, ContentType: got.contentType}
		for _, l := range feedLinks(got.body, got.res.URL) {
			nf.Feeds = append(nf.Feeds, l.url)
		}
		return Preview{}, nf
	}
	if err != nil {
		return Preview{}, err
	}
	now := c.opts.Now().UTC()
	p := Preview{Result: res, Items: make([]PreviewItem, len(res.Feed.Items))}
	for i, it := range res.Feed.Items {
		it.FirstSeen = now
		p.Items[i] = PreviewItem{
			Item:      it,
			ItemNote:  notes[i],
			Date:      it.Date(),
			DateWhy:   dateWhy(it, notes[i]),
			Canonical: aggregator.CanonicalLink(it.Link),
		}
	}
	return p, nil
}

// dateWhy says why it.Date() is not the date the feed gives it, or ""
// when it is.
func dateWhy(it aggregator.Item, note ItemNote) string {
	switch {
	case it.Published.IsZero() && note.UnreadDate != "":
		return fmt.Sprintf("first seen: its date %q cannot be read", note.UnreadDate)
	case it.Published.IsZero():
		return "first seen: the item has no date"
	case it.Published.After(it.FirstSeen):
		return fmt.Sprintf("first seen: its %s date %s is in the future", note.DateFrom, it.Published.Format(time.RFC3339))
	}
	return ""
}

// NotFeedError is returned for a page that is neither RSS, Atom nor JSON
// Feed. It wraps ErrNotFeed.
type NotFeedError struct {
	URL         string   // the page, after redirects
	ContentType string   // as the server gave it
	Feeds       []string // the feeds an HTML page names with <link rel="alternate">, absolute
}

func (e *NotFeedError) Error() string {
	msg := ErrNotFeed.Error()
	if e.ContentType != "" {
		msg += fmt.Sprintf(" (%s)", e.ContentType)
	}
	return msg
}

func (e *NotFeedError) Unwrap() error { return ErrNotFeed }
