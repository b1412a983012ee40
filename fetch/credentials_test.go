package fetch

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/planetgo/aggregator"
)

// TestCredentialsInURL: a source URL's user and password are sent as Basic
// authorization to its own origin, and appear in no URL that the fetch
// brings back, links resolved against the feed URL included.
func TestCredentialsInURL(t *testing.T) {
	t.Parallel()
	body := readTestdata(t, "rss-private-relative.xml")
	fs := newFeedServer(t, func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); !ok || user != "user" || pass != "secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="feeds"`)
			http.Error(w, "who are you?", http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/feeds/private.rss", http.StatusFound)
			return
		}
		w.Write(body)
	})
	for _, path := range []string{"/feeds/private.rss", "/old"} {
		t.Run(path, func(t *testing.T) {
			u := strings.Replace(fs.URL, "http://", "http://user:secret@", 1) + path
			res, err := newClient(Options{}).Fetch(context.Background(), source(u), aggregator.SourceState{})
			if err != nil {
				t.Fatal(err)
			}
			if got := fs.lastRequest().Header.Get("Authorization"); got != "Basic dXNlcjpzZWNyZXQ=" {
				t.Errorf("Authorization = %q, want user:secret", got)
			}
			urls := []string{res.URL, res.PermanentRedirect, res.Feed.SiteLink}
			for _, it := range res.Feed.Items {
				urls = append(urls, it.Link)
				for _, e := range it.Enclosures {
					urls = append(urls, e.URL)
				}
			}
			if want := fs.URL + "/feeds/minutes/1.html"; len(res.Feed.Items) != 1 || res.Feed.Items[0].Link != want {
				t.Errorf("items = %+v, want one linking to %s", res.Feed.Items, want)
			}
			for _, s := range urls {
				if strings.Contains(s, "secret") || strings.Contains(s, "user") {
					t.Errorf("fetched URLs %q carry the credentials", urls)
					break
				}
			}
		})
	}
}

// TestCredentialsStayWithTheirOrigin: a redirect to another origin (another
// port of the same host, here) gets no Authorization.
func TestCredentialsStayWithTheirOrigin(t *testing.T) {
	t.Parallel()
	other := newFeedServer(t, staticFeed(readTestdata(t, "rss-basic.xml"), "application/rss+xml", "", ""))
	fs := newFeedServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/feed", http.StatusFound)
	})
	u := strings.Replace(fs.URL, "http://", "http://user:secret@", 1) + "/feed"
	if _, err := newClient(Options{}).Fetch(context.Background(), source(u), aggregator.SourceState{}); err != nil {
		t.Fatal(err)
	}
	if got := fs.lastRequest().Header.Get("Authorization"); got == "" {
		t.Error("the configured origin got no Authorization")
	}
	if got := other.lastRequest().Header.Get("Authorization"); got != "" {
		t.Errorf("the origin redirected to got Authorization %q", got)
	}
}
