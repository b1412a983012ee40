package publish

import (
	"bytes"
	"html/template"
	"strings"

	"github.com/planetgo/aggregator"
)

// indexTemplate is the HTML index page. html/template escapes every value
// and filters unsafe URLs; item content is never shown, only titles.
const indexTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
{{- range .Feeds}}{{range .Links}}
<link rel="alternate" {{.TypeAttr}} title="{{.Title}}" href="{{.URL}}">
{{- end}}{{end}}
<style>
body { font-family: sans-serif; max-width: 60rem; margin: 1rem auto; padding: 0 1rem; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: 0.2rem 0.6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
.failing { color: #a00; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{- with .Description}}
<p>{{.}}</p>
{{- end}}
{{- with index .Feeds 0}}
<p>Subscribe to all sources:{{range .Links}} <a href="{{.URL}}">{{.Label}}</a>{{end}}</p>
{{- end}}
{{- with slice .Feeds 1}}
<h2>Sections</h2>
<ul>
{{- range .}}
<li>{{.Title}}{{with .Description}}: {{.}}{{end}} —{{range .Links}} <a href="{{.URL}}">{{.Label}}</a>{{end}}</li>
{{- end}}
</ul>
{{- end}}
<h2>Newest items</h2>
{{- if .Items}}
<ol>
{{- range .Items}}
<li>{{if .Link}}<a href="{{.Link}}">{{.Title}}</a>{{else}}{{.Title}}{{end}} — {{.Source}}{{with .Date}}, <time datetime="{{.}}">{{.}}</time>{{end}}</li>
{{- end}}
</ol>
{{- else}}
<p>No items yet.</p>
{{- end}}
<h2>Sources</h2>
<table>
<thead><tr><th>Source</th><th>Feed</th><th>Sections</th><th>Last fetch</th><th>Result</th></tr></thead>
<tbody>
{{- range .Sources}}
<tr{{if .Error}} class="failing"{{end}}>
<td>{{if .SiteLink}}<a href="{{.SiteLink}}">{{.Title}}</a>{{else}}{{.Title}}{{end}}</td>
<td>{{if .FeedLink}}<a href="{{.FeedLink}}">{{.Feed}}</a>{{else}}{{.Feed}}{{end}}</td>
<td>{{.Sections}}</td>
<td>{{.LastAttempt}}</td>
<td>{{.Result}}{{with .Error}}<br>{{.}}{{end}}</td>
</tr>
{{- end}}
</tbody>
</table>
</body>
</html>
`

// indexPage is what indexTemplate shows. Every string is cleaned.
type indexPage struct {
	Title, Description string
	Feeds              []indexFeed // the merged feed, then each section's
	Items              []indexItem
	Sources            []indexSource
}

type indexFeed struct {
	Title, Description string
	Links              []feedLink // one per format
}

type feedLink struct {
	Label, Title, URL string
	// TypeAttr is type="…": html/template would write "+" in an attribute
	// as &#43;, which naive autodiscovery scanners do not decode. The
	// value is one of our constant media types.
	TypeAttr template.HTMLAttr
}

type indexItem struct {
	Title, Link, Source, Date string
}

type indexSource struct {
	Title, SiteLink     string
	Feed, FeedLink      string // FeedLink only for http(s)
	Sections            string
	LastAttempt, Result string
	Error               string // the last failure, while failing
}

// renderIndex renders the index page from the feeds, the merged one first,
// and the source states.
func (s *Site) renderIndex(docs []*feedDoc, states map[string]aggregator.SourceState) ([]byte, error) {
	merged := docs[0]
	p := indexPage{Title: merged.Title, Description: merged.Description}
	for _, doc := range docs {
		p.Feeds = append(p.Feeds, newIndexFeed(doc))
	}
	for _, e := range merged.Entries {
		it := indexItem{Title: e.Title, Link: e.Link, Source: e.Source.Title}
		if it.Title == "" {
			it.Title = untitled
		}
		if !e.Published.IsZero() {
			it.Date = rfc3339(e.Published)
		}
		p.Items = append(p.Items, it)
	}
	for _, src := range s.opts.Sources {
		p.Sources = append(p.Sources, newIndexSource(src, states[src.Name]))
	}
	var buf bytes.Buffer
	if err := s.index.Execute(&buf, p); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// newIndexFeed links doc in every format.
func newIndexFeed(doc *feedDoc) indexFeed {
	f := indexFeed{Title: doc.Title, Description: doc.Description}
	for _, fm := range feedFormats() {
		f.Links = append(f.Links, feedLink{
			Label:    fm.label(),
			TypeAttr: template.HTMLAttr(`type="` + fm.mediaType() + `"`),
			Title:    doc.Title + " (" + fm.label() + ")",
			URL:      doc.url(fm),
		})
	}
	return f
}

func newIndexSource(src aggregator.Source, st aggregator.SourceState) indexSource {
	is := indexSource{
		Title:       clean(aggregator.DisplayTitle(src, st)),
		SiteLink:    clean(st.SiteLink),
		Feed:        clean(src.URL),
		FeedLink:    publicURL(src.URL),
		Sections:    clean(strings.Join(src.Sections, ", ")),
		LastAttempt: "never",
		Result:      clean(st.LastResult),
		Error:       clean(st.LastError),
	}
	if !st.LastAttempt.IsZero() {
		is.LastAttempt = rfc3339(st.LastAttempt)
	}
	return is
}
