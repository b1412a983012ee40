package fetch

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/mmcdole/gofeed"
)

// feedImage is the feed's own image, resolved against base: RSS
// <image><url> (or the iTunes image), Atom <logo>, else <icon>, JSON Feed
// icon, else favicon, as gofeed reads them but the favicon, which it
// drops. Only an http(s) URL within the length cap is kept: it is shown
// to every visitor of the pages.
func feedImage(f *gofeed.Feed, body []byte, base *url.URL) string {
	var raw string
	if f.Image != nil {
		raw = f.Image.URL
	}
	if raw == "" && f.FeedType == "json" {
		raw = jsonFavicon(body)
	}
	u := capURL(resolve(base, strings.TrimSpace(raw)))
	if !isHTTP(u) {
		return ""
	}
	return u
}

// jsonFavicon is the top-level "favicon" of a JSON Feed, "" when it has
// none. It reads the members of the top-level object in order and skips
// each other value without decoding it into Go values.
func jsonFavicon(body []byte) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return ""
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return ""
		}
		if key == "favicon" {
			var s string
			if dec.Decode(&s) != nil {
				return ""
			}
			return s
		}
		if skipJSONValue(dec) != nil {
			return ""
		}
	}
	return ""
}

// skipJSONValue reads past the next value of dec, however deep.
func skipJSONValue(dec *json.Decoder) error {
	depth := 0
	for {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}
