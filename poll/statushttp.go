package poll

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/planetgo/aggregator"
	"github.com/planetgo/aggregator/storage"
)

// statusDoc is the document of /status.json.
type statusDoc struct {
	Sources []Status `json:"sources"`
	WebSub  any      `json:"websub,omitempty"`
}

// StatusExtras are what /status.json shows beside the store's states.
type StatusExtras struct {
	// SourceWebSub, if set, describes a source's WebSub subscription
	// (Status.WebSub).
	SourceWebSub func(source string) string
	// WebSub, if set, is the document's "websub" member; nil leaves it
	// out.
	WebSub func() any
}

// StatusHandler serves /status.json: the status of the sources configured
// now (current() gives them and the filters in force), in their order, as
// store holds them, with the items the filters hide. A database that
// fails is logged and answered with 503.
func StatusHandler(store *storage.Store, current func() ([]aggregator.Source, *aggregator.Rules), logger *slog.Logger) http.Handler {
	return StatusHandlerWith(store, current, logger, StatusExtras{})
}

// StatusHandlerWith is StatusHandler with the extras the daemon knows.
func StatusHandlerWith(store *storage.Store, current func() ([]aggregator.Source, *aggregator.Rules), logger *slog.Logger, extras StatusExtras) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sources, rules := current()
		states, err := store.States(r.Context())
		var hidden map[string]aggregator.HiddenCount
		if err == nil {
			hidden, err = store.Hidden(r.Context(), rules, sources)
		}
		if err != nil {
			logger.Error("status", "err", err)
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		list := Statuses(sources, states, time.Now())
		AddHidden(list, hidden)
		doc := statusDoc{Sources: list}
		if extras.SourceWebSub != nil {
			for i := range doc.Sources {
				doc.Sources[i].WebSub = extras.SourceWebSub(doc.Sources[i].Name)
			}
		}
		if extras.WebSub != nil {
			doc.WebSub = extras.WebSub()
		}
		body, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(append(body, '\n'))
	})
}

// ReadStatus reads the sources' status from a daemon's /status.json at
// url, within 5 seconds and 64 MiB, through no proxy: the daemon is on
// this host.
func ReadStatus(ctx context.Context, url string) ([]Status, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var doc statusDoc
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return doc.Sources, nil
}
