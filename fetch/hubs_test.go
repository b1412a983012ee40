package fetch

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/planetgo/aggregator"
)

func TestParseLinks(t *testing.T) {
	t.Parallel()
	base, _ := url.Parse("https://blog.example/feed/")
	tests := []struct {
		name   string
		fields []string
		rel    string
		want   []string
	}{
		{"one", []string{`<https://hub.example/>; rel="hub"`}, "hub", []string{"https://hub.example/"}},
		{"unquoted rel", []string{`<https://hub.example/>; rel=hub`}, "hub", []string{"https://hub.example/"}},
		{"several in one field", []string{`<https://a.example/>; rel="hub", <https://blog.example/feed/>; rel="self", <https://b.example/>; rel="hub"`}, "hub",
			[]string{"https://a.example/", "https://b.example/"}},
		{"several fields", []string{`<https://a.example/>; rel="hub"`, `<https://b.example/>; rel="hub"`}, "hub", []string{"https://a.example/", "https://b.example/"}},
		{"rel list", []string{`<https://a.example/>; rel="self hub"`}, "hub", []string{"https://a.example/"}},
		{"case", []string{`<https://a.example/>; REL="HUB"`}, "hub", []string{"https://a.example/"}},
		{"relative", []string{`</websub>; rel="hub"`}, "hub", []string{"https://blog.example/websub"}},
		{"comma in a quoted title", []string{`<https://a.example/>; title="a, b"; rel="hub", <https://b.example/>; rel="hub"`}, "hub",
			[]string{"https://a.example/", "https://b.example/"}},
		{"comma in the URL", []string{`<https://a.example/x,y>; rel="hub"`}, "hub", []string{"https://a.example/x,y"}},
		{"self", []string{`<https://a.example/>; rel="hub", <https://blog.example/feed/>; rel="self"`}, "self", []string{"https://blog.example/feed/"}},
		{"other rels", []string{`<https://a.example/>; rel="alternate"`}, "hub", nil},
		{"not http", []string{`<javascript:alert(1)>; rel="hub", <ftp://x.example/>; rel="hub"`}, "hub", nil},
		{"garbage then a link", []string{`garbage, <https://a.example/>; rel="hub"`}, "hub", []string{"https://a.example/"}},
		{"unterminated", []string{`<https://a.example/; rel="hub"`}, "hub", nil},
		{"rel-ish parameter", []string{`<https://a.example/>; relx="hub"`}, "hub", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ParseLinks(tt.fields, tt.rel, base); !slices.Equal(got, tt.want) {
				t.Errorf("ParseLinks(%q, %q) = %q, want %q", tt.fields, tt.rel, got, tt.want)
			}
		})
	}
}

// TestDiscoverHubs: a fetch finds the hubs and the topic URL of a source
// in its Link header (which wins) or, without one, in its document, in
// each format (websub.rocks discovery tests 100-105: the Link header, the
// document, both, relative URLs).
func TestDiscoverHubs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, contentType, link string
		wantHubs                      []string
		wantSelf                      string
	}{
		{"atom document", "websub-atom.xml", "application/atom+xml", "", []string{"https://hub.example/", "SERVER/websub"}, "https://pushed.example/feed.atom"},
		{"rss document", "websub-rss.xml", "application/rss+xml", "", []string{"https://hub.example/"}, "https://pushed.example/feed.rss"},
		{"json document", "websub.json", "application/feed+json", "", []string{"https://hub.example/"}, "https://pushed.example/feed.json"},
		{"header wins", "websub-atom.xml", "application/atom+xml", `<https://header-hub.example/>; rel="hub", </topic>; rel="self"`,
			[]string{"https://header-hub.example/"}, "SERVER/topic"},
		{"header self only", "websub-rss.xml", "application/rss+xml", `</topic>; rel="self"`, []string{"https://hub.example/"}, "SERVER/topic"},
		{"none", "rss-basic.xml", "application/rss+xml", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := readTestdata(t, tt.file)
			fs := newFeedServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.link != "" {
					w.Header().Set("Link", tt.link)
				}
				w.Header().Set("Content-Type", tt.contentType)
				w.Write(body)
			})
			res, err := newClient(Options{}).Fetch(t.Context(), source(fs.URL+"/feed"), aggregator.SourceState{})
			if err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(tt.wantHubs)
			for i, h := range want {
				if h == "SERVER/websub" {
					want[i] = fs.URL + "/websub"
				}
			}
			wantSelf := tt.wantSelf
			if wantSelf == "SERVER/topic" {
				wantSelf = fs.URL + "/topic"
			}
			if !slices.Equal(res.Hubs, want) || res.Self != wantSelf {
				t.Errorf("Hubs, Self = %q, %q; want %q, %q", res.Hubs, res.Self, want, wantSelf)
			}
		})
	}
}

// FuzzHubLinks: whatever a response's Link header or a feed's document
// holds, the hubs and topic discovery takes from it are absolute http(s)
// URLs, capped in length and number, and nothing panics.
func FuzzHubLinks(f *testing.F) {
	f.Add(`<https://hub.example/>; rel="hub", </self>; rel="self"`, readTestdata(f, "websub-atom.xml"))
	f.Add(`<a,b>; title="x, y"; rel=hub`, readTestdata(f, "websub-rss.xml"))
	f.Add(`garbage`, readTestdata(f, "websub.json"))
	base, _ := url.Parse("https://blog.example/feed")
	f.Fuzz(func(t *testing.T, link string, body []byte) {
		check := func(where string, hubs []string, self string) {
			if len(hubs) > maxHubs {
				t.Errorf("%s: %d hubs", where, len(hubs))
			}
			for _, u := range append(hubs, self) {
				if u != "" && (!isHTTP(u) || len(u) > maxURL) {
					t.Errorf("%s gave %q", where, u)
				}
			}
		}
		hubs, self := discoverHeader(http.Header{"Link": {link}}, base)
		check("discoverHeader", hubs, self)
		hubs, self = DiscoverDocument(body, base)
		check("DiscoverDocument", hubs, self)
	})
}
