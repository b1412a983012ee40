package config

import "testing"

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
