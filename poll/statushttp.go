package poll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
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

// StatusPlace is where the status of a config's sources is kept: its
// database, or the daemon listening on Listen while one holds it.
type StatusPlace struct {
	Database string
	Listen   string
	Sources  []aggregator.Source
	Rules    *aggregator.Rules // the filters whose hidden items are counted
}

// LoadStatus returns the status of p's sources and where it was read:
// from the database, or, while a running daemon holds it, from that
// daemon's /status.json; from the config alone (every source new) when
// there is no database yet. It never creates the database.
func LoadStatus(ctx context.Context, p StatusPlace) ([]Status, string, error) {
	if _, err := os.Stat(p.Database); errors.Is(err, fs.ErrNotExist) {
		return Statuses(p.Sources, nil, time.Now()), "the config (no database yet at " + p.Database + ")", nil
	}
	store, err := storage.Open(p.Database, storage.Options{LockTimeout: 200 * time.Millisecond})
	if errors.Is(err, storage.ErrLocked) {
		url := "http://" + LocalAddr(p.Listen) + "/status.json"
		list, err := ReadStatus(ctx, url)
		if err != nil {
			return nil, "", fmt.Errorf("a daemon holds %s, but its status is unavailable: %w", p.Database, err)
		}
		return list, "the running daemon, " + url, nil
	}
	if err != nil {
		return nil, "", err
	}
	defer store.Close()
	states, err := store.States(ctx)
	if err != nil {
		return nil, "", err
	}
	hidden, err := store.Hidden(ctx, p.Rules, p.Sources)
	if err != nil {
		return nil, "", err
	}
	list := Statuses(p.Sources, states, time.Now())
	AddHidden(list, hidden)
	return list, "the database " + p.Database, nil
}

// LocalAddr is where this host reaches a daemon listening on listen: an
// unspecified or missing host is the loopback address of its family.
func LocalAddr(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port)
}
