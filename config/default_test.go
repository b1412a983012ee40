package config

import (
	"strings"
	"testing"

	"github.com/planetgo/aggregator"
)

// TestDefault: the Config of no file has the documented defaults.
func TestDefault(t *testing.T) {
	t.Parallel()
	c := Default()
	if c.Fetch.Timeout != defaultTimeout || c.Fetch.HeaderTimeout != defaultHeaderTime || c.Fetch.PerHost != defaultPerHost ||
		c.Fetch.MaxBytes != defaultMaxBytes || c.Fetch.UserAgent != DefaultUserAgent || c.Publish.Items != defaultItems || len(c.Sources) != 0 {
		t.Errorf("Default() = %+v", c)
	}
	if got := NameFromURL("https://www.example.com/blog/"); got != "www-example-com-blog" {
		t.Errorf("NameFromURL() = %q", got)
	}
}

// TestNewSourceNames: the site's name first, the other feeds' own, and a
// number for a name the config or an earlier feed has.
func TestNewSourceNames(t *testing.T) {
	t.Parallel()
	c := Default()
	c.Sources = append(c.Sources, aggregator.Source{Name: "example-com-blog"})
	got := c.NewSourceNames("https://WWW.Example.com/blog/?utm=x#top", []string{
		"https://example.com/blog/feed",
		"https://example.com/blog/comments/feed",
		"https://www.example.com/blog/",
		"https://xn--/",
	})
	want := []string{"example-com-blog-2", "example-com-blog-comments-feed", "example-com-blog-3", "xn"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("NewSourceNames() = %q, want %q", got, want)
	}
	if got := c.NewSourceNames("https://", []string{"https://"}); len(got) != 1 || got[0] != "site" {
		t.Errorf("NewSourceNames(no host) = %q, want [site]", got)
	}
}
