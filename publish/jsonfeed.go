package publish

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/gorilla/feeds"
)

// jsonFeedVersion is the JSON Feed version written.
const jsonFeedVersion = "https://jsonfeed.org/version/1.1"

// jsonFeed is a JSON Feed 1.1 document. gorilla/feeds' JSONFeed drops an
// empty items array and names the attachment size "size", so the envelope
// is ours; authors reuse its type.
type jsonFeed struct {
	Version     string     `json:"version"`
	Title       string     `json:"title"`
	HomePageURL string     `json:"home_page_url"`
	FeedURL     string     `json:"feed_url"`
	Description string     `json:"description,omitempty"`
	Hubs        []jsonHub  `json:"hubs,omitempty"`
	Items       []jsonItem `json:"items"` // required, even when empty
}

// jsonHub is an endpoint to subscribe to the feed's updates with.
type jsonHub struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// jsonItem is one item. Its summary is HTML, but JSON Feed's summary is
// plain text, so it goes into content_html when there is no content;
// content_html is always written, since an item needs content_html or
// content_text.
type jsonItem struct {
	ID            string             `json:"id"`
	URL           string             `json:"url,omitempty"`
	Title         string             `json:"title,omitempty"`
	ContentHTML   string             `json:"content_html"`
	DatePublished string             `json:"date_published,omitempty"`
	DateModified  string             `json:"date_modified,omitempty"`
	Authors       []feeds.JSONAuthor `json:"authors"`
	Tags          []string           `json:"tags,omitempty"`
	Attachments   []jsonAttachment   `json:"attachments,omitempty"`
	Source        jsonSource         `json:"_source"`
}

type jsonAttachment struct {
	URL         string `json:"url"`
	MIMEType    string `json:"mime_type"`
	SizeInBytes int64  `json:"size_in_bytes,omitempty"`
}

// jsonSource is an extension object (JSON Feed 1.1, "Extensions") naming
// the feed an item came from: its id as in atom:source, and the other
// sources whose copies of the item were collapsed into it; its icon is
// the source's face.
type jsonSource struct {
	ID          string         `json:"id"`
	Title       string         `json:"title"`
	HomePageURL string         `json:"home_page_url,omitempty"`
	FeedURL     string         `json:"feed_url,omitempty"`
	Icon        string         `json:"icon,omitempty"` // the source's face
	AlsoIn      []jsonSourceIn `json:"also_in,omitempty"`
}

// jsonSourceIn is one other source that carried the item.
type jsonSourceIn struct {
	Title   string `json:"title"`
	FeedURL string `json:"feed_url,omitempty"`
}

// renderJSON writes doc as JSON Feed 1.1.
func renderJSON(doc *feedDoc) ([]byte, error) {
	f := jsonFeed{
		Version:     jsonFeedVersion,
		Title:       doc.Title,
		HomePageURL: doc.homeURL(),
		FeedURL:     doc.url(jsonFormat),
		Description: doc.Description,
		Items:       make([]jsonItem, 0, len(doc.Entries)),
	}
	for _, h := range doc.hubs {
		f.Hubs = append(f.Hubs, jsonHub{Type: "WebSub", URL: h})
	}
	for _, e := range doc.Entries {
		f.Items = append(f.Items, newJSONItem(e))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	// Served as application/feed+json with nosniff, never as HTML, so
	// "<" needs no \u003c.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func newJSONItem(e entry) jsonItem {
	it := jsonItem{
		ID:          e.ID,
		URL:         e.Link,
		Title:       e.Title,
		ContentHTML: e.Content,
		// The source's face is its author's avatar, as planets show it.
		Authors: []feeds.JSONAuthor{{Name: e.Author, Avatar: e.Source.Image}},
		Tags:    e.Categories,
		Source: jsonSource{
			ID:          e.Source.ID,
			Title:       e.Source.Title,
			HomePageURL: e.Source.SiteLink,
			FeedURL:     e.Source.FeedURL,
			Icon:        e.Source.Image,
		},
	}
	for _, src := range e.AlsoIn {
		it.Source.AlsoIn = append(it.Source.AlsoIn, jsonSourceIn{Title: src.Title, FeedURL: src.FeedURL})
	}
	if it.ContentHTML == "" {
		it.ContentHTML = e.Summary
	}
	if it.Title == "" && strings.TrimSpace(it.ContentHTML) == "" {
		it.Title = untitled
	}
	if !e.Published.IsZero() {
		it.DatePublished = rfc3339(e.Published)
	}
	if !e.Updated.IsZero() {
		it.DateModified = rfc3339(e.Updated)
	}
	for _, enc := range e.Enclosures {
		it.Attachments = append(it.Attachments, jsonAttachment{URL: enc.URL, MIMEType: enc.Type, SizeInBytes: enc.Length})
	}
	return it
}
