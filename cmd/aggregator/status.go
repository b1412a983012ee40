package main

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/planetgo/aggregator/poll"
)

// serveStatus writes the fetch state of every configured source, in config
// order, as JSON.
func (a *app) serveStatus(w http.ResponseWriter, r *http.Request) {
	states, err := a.store.States(r.Context())
	if err != nil {
		a.logger.Error("status", "err", err)
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	list := poll.Statuses(a.cfg.Sources, states, time.Now())
	body, err := json.MarshalIndent(struct {
		Sources []poll.Status `json:"sources"`
	}{list}, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(append(body, '\n'))
}
