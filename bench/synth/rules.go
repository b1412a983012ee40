package synth

import (
	"fmt"
	"strings"
)

// The levels of Filters.
const (
	LevelAll     = "all"     // the top-level filters:
	LevelSection = "section" // a section's
	LevelSource  = "source"  // a source's
)

// Filters returns a filters: mapping in YAML flow style, ten rules of the
// kinds an admin writes (sponsored posts, job ads, a source's drafts and
// holiday photos) for a level of the config; for LevelSource, of source i.
// They hide one item in five of the synthetic feeds (each source's
// items numbered 10 to 19 and its "photos", none of which exist: the
// source rules hide what their titles and categories say), so the feeds
// are published and filled from a little further back.
func Filters(level string, i int) string {
	var include, exclude []string
	switch level {
	case LevelAll:
		exclude = []string{
			`{title: '(?i)\bsponsored\b'}`,
			`{title: '^\[(ad|promo)\]'}`,
			`{category: '(?i)^(advert|promo|sponsored)$'}`,
			`{author: '(?i)^marketing'}`,
			`{link: '/sponsored/'}`,
			`{content: '(?i)affiliate link'}`,
			`{title: '(?i)giveaway', content: '(?i)win a'}`,
			`{link: '[?&]utm_campaign='}`,
			`{title: '(?i)^(re)?post(ed)?:'}`,
		}
		include = []string{`{category: '.'}`}
	case LevelSection:
		include = []string{
			`{category: '^(go|linux|networking|databases)$'}`,
			`{category: '^(security|web|hardware|essays)$'}`,
			`{title: '(?i)\b(go|golang)\b'}`,
		}
		exclude = []string{
			`{title: '(?i)\bcrypto(currency)?\b'}`,
			`{content: '(?i)\bnft\b'}`,
			`{author: '^Anonymous$'}`,
			`{title: '(?i)webinar'}`,
			`{link: '/jobs/'}`,
			`{category: '^(jobs|hiring)$'}`,
			`{content: '(?i)register now'}`,
		}
	case LevelSource:
		exclude = []string{
			fmt.Sprintf(`{link: '^https://blog%d\.example/(drafts|private)/'}`, i),
			`{title: '(?i)^weekly links'}`,
			`{category: '^(personal|holiday|photos)$'}`,
			`{title: '\(1[0-9]\)$'}`,
			`{author: '^Guest'}`,
			`{content: '(?i)lorem ipsum'}`,
			`{title: '(?i)\bpodcast\b'}`,
			`{title: '(?i)changelog', category: '^releases$'}`,
			`{link: '\?replytocom='}`,
			`{content: '(?i)<iframe'}`,
		}
	}
	var parts []string
	if len(include) > 0 {
		parts = append(parts, "include: ["+strings.Join(include, ", ")+"]")
	}
	if len(exclude) > 0 {
		parts = append(parts, "exclude: ["+strings.Join(exclude, ", ")+"]")
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
