package poll

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/fetch"
)

// Status is what an admin sees of one source: /status.json and the
// sources command. URLs carry no credentials; the error is the full text.
type Status struct {
	Name                string    `json:"name"`
	URL                 string    `json:"url"`
	Title               string    `json:"title"`
	Sections            []string  `json:"sections"`
	LastAttempt         time.Time `json:"last_attempt,omitzero"`
	LastSuccess         time.Time `json:"last_success,omitzero"`
	Result              string    `json:"result"`
	Error               string    `json:"error,omitempty"`
	ErrorKind           string    `json:"error_kind,omitempty"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	NextAttempt         time.Time `json:"next_attempt,omitzero"` // absent when gone
	MovedTo             string    `json:"moved_to,omitempty"`
	Gone                bool      `json:"gone"`
	HostBlockedUntil    time.Time `json:"host_blocked_until,omitzero"` // its host's Retry-After
	WebSub              string    `json:"websub,omitempty"`            // its WebSub subscription in words; set by the daemon
	// Hidden counts the stored items that the config's filters keep out
	// of every feed (the top-level rules and the source's own), and
	// HiddenInSections, for each of its sections with rules of their own,
	// those that section's feeds leave out, these included.
	Hidden           int            `json:"hidden"`
	HiddenInSections map[string]int `json:"hidden_in_sections,omitempty"`
}

// AddHidden sets the hidden counts of the statuses in list from counts,
// by source name (see Status.Hidden).
func AddHidden(list []Status, counts map[string]aggregator.HiddenCount) {
	for i := range list {
		c := counts[list[i].Name]
		list[i].Hidden, list[i].HiddenInSections = c.All, c.Sections
	}
}

// State sums up s in a word or two: gone, failing (N), moved, new or ok.
func (s Status) State() string {
	switch {
	case s.Gone:
		return "gone"
	case s.ConsecutiveFailures > 0:
		return fmt.Sprintf("failing (%d)", s.ConsecutiveFailures)
	case s.MovedTo != "":
		return "moved"
	case s.LastAttempt.IsZero():
		return "new"
	}
	return "ok"
}

// Statuses returns the status of sources, in their order, from the states
// stored (nil before any), as of now.
func Statuses(sources []aggregator.Source, states map[string]aggregator.SourceState, now time.Time) []Status {
	blocked := HostBlocks(states, now)
	list := make([]Status, 0, len(sources))
	for _, src := range sources {
		st := StateFor(src, states[src.Name])
		list = append(list, statusOf(src, st, blocked[fetch.Host(FetchURL(src, st))]))
	}
	return list
}

// statusOf is src's status, given its state (for its configured URL) and
// when its host's Retry-After ends.
func statusOf(src aggregator.Source, st aggregator.SourceState, hostBlockedUntil time.Time) Status {
	st = RedactState(st)
	s := Status{
		Name:                src.Name,
		URL:                 aggregator.RedactURL(src.URL),
		Title:               aggregator.DisplayTitle(src, st),
		Sections:            src.Sections,
		LastAttempt:         st.LastAttempt,
		LastSuccess:         st.LastSuccess,
		Result:              st.Result(),
		Error:               st.LastError,
		ErrorKind:           st.ErrorKind,
		ConsecutiveFailures: st.ConsecutiveFailures,
		NextAttempt:         st.NextAttempt,
		MovedTo:             st.MovedTo,
		Gone:                st.Gone,
		HostBlockedUntil:    hostBlockedUntil,
	}
	if s.Sections == nil {
		s.Sections = []string{}
	}
	if s.Result == "" {
		s.Result = "never fetched"
	}
	if s.HostBlockedUntil.After(s.NextAttempt) && !s.Gone {
		s.NextAttempt = s.HostBlockedUntil
	}
	return s
}

// RedactState is st with the user info taken out of every URL in it.
// Fetches record none since credentials went into the Authorization
// header alone, but a database written before may hold them.
func RedactState(st aggregator.SourceState) aggregator.SourceState {
	st.URL = aggregator.RedactURL(st.URL)
	st.MovedTo = aggregator.RedactURL(st.MovedTo)
	st.RedirectTo = aggregator.RedactURL(st.RedirectTo)
	st.SiteLink = aggregator.RedactURL(st.SiteLink)
	st.Image = aggregator.RedactURL(st.Image)
	st.LastError = redactURLsIn(st.LastError)
	return st
}

// redactURLsIn takes the user info out of each http(s) URL in text.
func redactURLsIn(text string) string {
	if !strings.Contains(text, "@") {
		return text
	}
	for _, f := range strings.Fields(text) {
		f = strings.Trim(f, `"'(),;<>`)
		if strings.HasPrefix(f, "http://") || strings.HasPrefix(f, "https://") {
			text = strings.ReplaceAll(text, f, aggregator.RedactURL(f))
		}
	}
	return text
}

// WriteStatusTable writes list as the table of `aggregator sources`, times
// relative to now; the column of hidden items only with filters, as there
// are none to count without.
func WriteStatusTable(w io.Writer, list []Status, now time.Time, filters bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	hiddenHead := ""
	if filters {
		hiddenHead = "HIDDEN\t"
	}
	fmt.Fprintf(tw, "NAME\tSTATE\tLAST SUCCESS\tNEXT ATTEMPT\t%sRESULT\n", hiddenHead)
	for _, s := range list {
		hidden := ""
		if filters {
			hidden = hiddenCell(s) + "\t"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s%s\n", s.Name, s.State(), ago(s.LastSuccess, now), ago(s.NextAttempt, now), hidden, s.Result)
	}
	return tw.Flush()
}

// hiddenCell is the items of s that filters hide from every feed, then,
// for each of its sections with filters of its own, those that section's
// hides: "3", "3 (go: 5)".
func hiddenCell(s Status) string {
	cell := strconv.Itoa(s.Hidden)
	if len(s.HiddenInSections) == 0 {
		return cell
	}
	var in []string
	for _, sec := range slices.Sorted(maps.Keys(s.HiddenInSections)) {
		in = append(in, fmt.Sprintf("%s: %d", sec, s.HiddenInSections[sec]))
	}
	return cell + " (" + strings.Join(in, ", ") + ")"
}

// ago prints t relative to now, to the second: "3m20s ago", "in 12m0s".
func ago(t, now time.Time) string {
	switch {
	case t.IsZero():
		return "-"
	case t.After(now):
		return "in " + t.Sub(now).Round(time.Second).String()
	}
	return now.Sub(t).Round(time.Second).String() + " ago"
}
