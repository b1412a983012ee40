package main

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/poll"
)

// sourceStatus is one source in /status.json.
type sourceStatus struct {
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
}

// serveStatus writes the fetch state of every configured source, in config
// order, as JSON.
func (a *app) serveStatus(w http.ResponseWriter, r *http.Request) {
	states, err := a.store.States(r.Context())
	if err != nil {
		a.logger.Error("status", "err", err)
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	list := statusesOf(a.cfg, states)
	body, err := json.MarshalIndent(struct {
		Sources []sourceStatus `json:"sources"`
	}{list}, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(append(body, '\n'))
}

// statusOf is src's entry in /status.json, given its state and when its
// host's Retry-After ends.
func statusOf(src aggregator.Source, st aggregator.SourceState, hostBlockedUntil time.Time) sourceStatus {
	// Recorded for a URL the config no longer names: forgotten at the
	// next fetch, and meanwhile no news of this one.
	st = redactState(poll.StateFor(src, st))
	s := sourceStatus{
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
