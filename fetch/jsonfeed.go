package fetch

import (
	"slices"

	"github.com/mmcdole/gofeed"
	jsonfeed "github.com/mmcdole/gofeed/json"
)

// contentTextKey, in a gofeed item's Custom, marks an item of a JSON Feed
// whose content is its content_text (plain text) rather than its
// content_html.
const contentTextKey = "planetgo:content_text"

// jsonTranslator is gofeed's translator of JSON Feeds, which takes an
// item's content_text as its content when content_html is empty, marking
// the items it does so for (contentTextKey): the original items are gone
// once it returns, and decoding the body again to find out would double
// the cost of a JSON Feed. It also drops the nulls among the feed's items
// and authors, on which gofeed's translator panics.
type jsonTranslator struct {
	gofeed.DefaultJSONTranslator
}

func (t *jsonTranslator) Translate(feed any) (*gofeed.Feed, error) {
	jf, ok := feed.(*jsonfeed.Feed)
	if !ok {
		return t.DefaultJSONTranslator.Translate(feed)
	}
	jf.Items = slices.DeleteFunc(jf.Items, func(it *jsonfeed.Item) bool { return it == nil })
	jf.Authors = withoutNilAuthors(jf.Authors)
	for _, it := range jf.Items {
		it.Authors = withoutNilAuthors(it.Authors)
	}
	f, err := t.DefaultJSONTranslator.Translate(jf)
	if err != nil || len(f.Items) != len(jf.Items) {
		return f, err
	}
	for i, it := range jf.Items {
		if it.ContentHTML == "" && it.ContentText != "" && f.Items[i] != nil {
			if f.Items[i].Custom == nil {
				f.Items[i].Custom = make(map[string]string, 1)
			}
			f.Items[i].Custom[contentTextKey] = "true"
		}
	}
	return f, nil
}

// withoutNilAuthors returns authors without its nils; nil when none is
// left, so that gofeed falls back on the JSON Feed 1.0 author.
func withoutNilAuthors(authors []*jsonfeed.Author) []*jsonfeed.Author {
	authors = slices.DeleteFunc(authors, func(a *jsonfeed.Author) bool { return a == nil })
	if len(authors) == 0 {
		return nil
	}
	return authors
}
