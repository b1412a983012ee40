package fetch

import (
	"testing"

	"github.com/planetgo/aggregator"
)

// TestFeedImage: the feed's own image, its face, from each format's place
// for it, made absolute, and never anything but http(s).
func TestFeedImage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, feedURL, want string
	}{
		{"rss-image.xml", "https://faces.example/feed.rss", "https://faces.example/img/ann.png"},
		{"atom-logo-icon.xml", "https://logo.example/feed.atom", "https://logo.example/logo.png"},
		{"atom-icon.xml", "https://icon.example/feed.atom", "https://icon.example/icon.png"},
		{"jsonfeed-icon.json", "https://icon.example/feed.json", "https://icon.example/icon-512.png"},
		{"jsonfeed-favicon.json", "https://fav.example/feed.json", "https://fav.example/favicon.png"},
		{"rss-image-javascript.xml", "https://hostile.example/feed.rss", ""},
		{"rss-basic.xml", "https://basic.example/feed.rss", ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			f, err := NewParser().Parse(t.Context(), readTestdata(t, tt.file), tt.feedURL, "", aggregator.Source{Name: "src"})
			if err != nil {
				t.Fatal(err)
			}
			if f.Image != tt.want {
				t.Errorf("Feed.Image = %q, want %q", f.Image, tt.want)
			}
		})
	}
}

func TestJSONFavicon(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, want string }{
		{"first", `{"favicon": "https://a.example/f.png", "items": []}`, "https://a.example/f.png"},
		{"after nested ones", `{"items": [{"favicon": "x", "_a": {"favicon": "y"}}], "favicon": "z"}`, "z"},
		{"none", `{"items": [{"favicon": "x"}]}`, ""},
		{"not a string", `{"favicon": 3}`, ""},
		{"truncated", `{"items": [`, ""},
		{"not an object", `["favicon"]`, ""},
	}
	for _, tt := range tests {
		if got := jsonFavicon([]byte(tt.body)); got != tt.want {
			t.Errorf("%s: jsonFavicon() = %q, want %q", tt.name, got, tt.want)
		}
	}
}
