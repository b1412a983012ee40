package fetch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mmcdole/gofeed"
	"github.com/planetgo/aggregator"
)

// Feed is a parsed and normalised source feed.
type Feed struct {
	Title    string    // plain text
	SiteLink string    // absolute URL of the web site; may be empty
	ID       string    // the feed's own id (Atom's atom:id); may be empty
	Image    string    // the feed's own image (RSS image, Atom logo or icon, JSON Feed icon or favicon): absolute http(s); may be empty
	Updated  time.Time // when the feed says it changed, else its newest item's date; zero when unknown
	Items    []aggregator.Item
	Format   string // "atom", "rss" or "json"

	// TTL is how long an RSS feed's <ttl> says it may be cached; 0 when it
	// does not say.
	TTL time.Duration
}

// Parser turns feed bytes into normalised items. It is safe for concurrent
// use.
type Parser struct {
	gofeed *gofeed.Parser
	stall  func() // tests only: runs before gofeed does, standing for a slow parse
}

// NewParser returns a Parser.
func NewParser() *Parser {
	p := gofeed.NewParser()
	// Item.Image is never used; the scan costs a full HTML parse per item.
	p.RSSTranslator = &gofeed.DefaultRSSTranslator{DisableContentImageScan: true}
	p.JSONTranslator = &jsonTranslator{}
	return &Parser{gofeed: p}
}

// parse is Parse, on the goroutine that Parse stops waiting for when ctx
// ends. When notes is not nil, it gets one ItemNote per item of the Feed.
func (p *Parser) parse(ctx context.Context, body []byte, feedURL, contentType string, src aggregator.Source, notes *[]ItemNote) (Feed, error) {
	body = xmlView(toUTF8(body, contentType))
	if err := checkShape(body); err != nil {
		return Feed{}, err
	}
	if p.stall != nil {
		p.stall()
	}
	f, err := p.gofeed.Parse(readUntil(ctx, body))
	if errors.Is(err, gofeed.ErrFeedTypeNotDetected) {
		return Feed{}, ErrNotFeed
	}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return Feed{}, cause
		}
		return Feed{}, &ParseError{Err: err}
	}
	base, _ := url.Parse(feedURL)
	m := markupOf(f, body)
	out := Feed{
		Title:    fieldText(f.Title, m.feedTitle, maxTitle),
		SiteLink: capURL(resolve(base, f.Link)),
		Items:    make([]aggregator.Item, 0, len(f.Items)),
		Format:   f.FeedType,
	}
	if out.SiteLink == "" && base != nil && (base.Scheme == "http" || base.Scheme == "https") {
		out.SiteLink = resolve(base, "/")
	}
	if f.FeedType == "rss" {
		out.TTL = rssTTL(body)
	}
	out.Image = feedImage(f, body, base)
	// gofeed has resolved what an xml:base covers. Other relative links are
	// taken as relative to the feed's own link, as most RSS writers mean
	// them, and to the feed URL when the feed gives no link of its own.
	if site, err := url.Parse(capURL(resolve(base, f.Link))); err == nil && isHTTP(site.String()) {
		base = site
	}
	feedAuthor := personName(f.Authors, m.people)
	identify := identityFunc(f.Items, src.Identity)
	guidIsLink := guidLinks(f, body)
	for i, it := range f.Items {
		if it == nil {
			continue
		}
		if err := context.Cause(ctx); err != nil {
			return Feed{}, err
		}
		item := normalise(it, base, feedAuthor, m.item(i), m.people, guidIsLink(i))
		item.SourceID = src.Name
		var note ItemNote
		item.ID, note.IdentityFrom, note.IdentityWhy = identify(it, item)
		out.Items = append(out.Items, item)
		if notes != nil {
			note.DateFrom, note.UnreadDate = dateOf(it)
			*notes = append(*notes, note)
		}
	}
	if f.FeedType == "atom" {
		out.ID = atomFeedID(body)
	}
	out.Updated = feedUpdated(f, out.Items)
	return out, nil
}

// normalise makes it an Item; im says how its title, content and summary
// are written, peopleHTML whether its names and categories are HTML (see
// markup), and guidIsLink whether its GUID, if a URL, is its link when it
// has none (see guidLinks).
func normalise(it *gofeed.Item, base *url.URL, feedAuthor string, im itemMarkup, peopleHTML, guidIsLink bool) aggregator.Item {
	item := aggregator.Item{
		Title:      fieldText(it.Title, im.titleHTML, maxTitle),
		Link:       capURL(resolve(base, strings.TrimSpace(it.Link))),
		Content:    contentHTML(it.Content, im.contentText),
		Summary:    contentHTML(it.Description, im.summaryText),
		Author:     personName(it.Authors, peopleHTML),
		Categories: categories(it.Categories, peopleHTML),
		Enclosures: enclosures(it.Enclosures, base),
		Published:  utc(it.PublishedParsed),
		Updated:    utc(it.UpdatedParsed),
	}
	if item.Link == "" && guidIsLink && isHTTP(it.GUID) {
		item.Link = capURL(resolve(nil, it.GUID))
	}
	if item.Summary == item.Content {
		item.Summary = ""
	}
	if item.Published.IsZero() {
		item.Published = item.Updated
	}
	if item.Author == "" {
		item.Author = feedAuthor
	}
	return item
}

// identityFunc picks how the items of one feed are identified. By default:
// by GUID, but by link (then content hash) for the items whose GUID the feed
// gives to another item too, as some broken generators do, since one GUID
// for several items would merge them. Only those items: the others keep
// their GUIDs, so that one item posted with a copied GUID changes the ids
// of two items, not of every item the source has published. The admin's
// choice (aggregator.IdentityGUID, IdentityLink or IdentityHash) overrides
// it; an item lacking what it names falls back as by default. The function
// it returns gives an item's ID, what it was made from (IdentityGUID,
// IdentityLink or IdentityHash) and, when that is not the item's GUID, why.
func identityFunc(items []*gofeed.Item, choice string) func(*gofeed.Item, aggregator.Item) (id, from, why string) {
	var repeated map[string]bool
	if choice == "" {
		repeated = repeatedGUIDs(items)
	}
	return func(it *gofeed.Item, item aggregator.Item) (string, string, string) {
		g := valid(strings.TrimSpace(it.GUID))
		useGUID := choice == aggregator.IdentityGUID || choice == "" && !repeated[g]
		if g != "" && useGUID {
			if id := capID(g); id != g {
				return id, aggregator.IdentityGUID, fmt.Sprintf("a hash of the guid, longer than %d bytes", maxID)
			}
			return g, aggregator.IdentityGUID, ""
		}
		var why string // why the GUID was not used
		switch {
		case choice == aggregator.IdentityLink || choice == aggregator.IdentityHash:
			why = "identity: " + choice
		case g == "":
			why = "no guid"
		default:
			why = "the feed repeats this guid"
		}
		if choice != aggregator.IdentityHash {
			if item.Link != "" {
				return item.Link, aggregator.IdentityLink, why
			}
			why += ", and no link"
		}
		// The content and summary as gofeed gives them, as they were kept
		// before plain text was escaped into HTML: the ids made then hold.
		content, summary := valid(it.Content), valid(it.Description)
		if summary == content {
			summary = ""
		}
		h := sha256.New()
		for _, s := range []string{item.Title, content, summary, item.Published.Format(time.RFC3339Nano)} {
			h.Write([]byte(s))
			h.Write([]byte{0})
		}
		return "hash:" + hex.EncodeToString(h.Sum(nil)[:16]), aggregator.IdentityHash, why
	}
}

// repeatedGUIDs returns the GUIDs (as identityFunc reads them) that more
// than one item has; nil when none does.
func repeatedGUIDs(items []*gofeed.Item) map[string]bool {
	seen := make(map[string]bool, len(items))
	var repeated map[string]bool
	for _, it := range items {
		if it == nil {
			continue
		}
		g := valid(strings.TrimSpace(it.GUID))
		if g == "" {
			continue
		}
		if seen[g] {
			if repeated == nil {
				repeated = make(map[string]bool)
			}
			repeated[g] = true
		}
		seen[g] = true
	}
	return repeated
}

func valid(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}

func utc(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// resolve makes ref absolute against base. A reference that does not parse
// is dropped rather than published broken.
func resolve(base *url.URL, ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return ""
	}
	u, err := url.Parse(ref)
	if err != nil || !validPort(u.Port()) {
		return ""
	}
	if base != nil && !u.IsAbs() {
		u = base.ResolveReference(u)
	}
	// url.URL keeps a query as written: escape what no URI may hold.
	u.RawQuery = queryEscaper.Replace(u.RawQuery)
	return valid(u.String())
}

// queryEscaper escapes the characters RFC 3986 allows nowhere in a URI,
// which url.Parse leaves in a query.
var queryEscaper = strings.NewReplacer(" ", "%20", `"`, "%22", "<", "%3C", ">", "%3E", `\`, "%5C", "^", "%5E", "`", "%60", "{", "%7B", "|", "%7C", "}", "%7D")

// validPort reports whether a URL's port (as url.URL.Port gives it) is
// none or one a connection can use: url.Parse takes any digits.
func validPort(port string) bool {
	if port == "" {
		return true
	}
	n, err := strconv.Atoi(port)
	return err == nil && n > 0 && n <= 65535
}

func isHTTP(s string) bool {
	s = strings.TrimSpace(s)
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// rssTTL returns the <ttl> of an RSS channel, a number of minutes, as a
// duration; 0 when it has none. The universal feed leaves <ttl> out, and
// keeping gofeed's original feed for it would hold every item twice, so the
// body before the first item is searched instead.
func rssTTL(body []byte) time.Duration {
	if i := bytes.Index(body, []byte("<item")); i >= 0 {
		body = body[:i]
	}
	i := bytes.LastIndex(body, []byte("<ttl>"))
	if i < 0 {
		return 0
	}
	value, _, ok := bytes.Cut(body[i+len("<ttl>"):], []byte("</ttl>"))
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64)
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(min(n, int64(1<<63-1)/int64(time.Minute))) * time.Minute
}
