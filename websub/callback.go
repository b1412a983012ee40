package websub

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ServeHTTP answers hubs at CallbackPath + TOKEN (WebSub 5.3, 6, 7): the
// verification of intent of a request we made (a GET echoing
// hub.challenge, only for the topic and mode we asked for; 404
// otherwise), a denial (hub.mode=denied), and pushed content (a POST),
// which is taken only with a valid X-Hub-Signature of its
// subscription's secret and within MaxBytes (413 beyond). A pushed body
// with a bad or no signature is acknowledged (202) and dropped, as
// WebSub 7.1 allows, so that a forger learns nothing. An unknown token,
// or a subscription we are ending, gets 410 Gone, so that its hub drops
// it.
func (s *Subscriber) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.URL.Path, CallbackPath)
	s.mu.Lock()
	name, known := s.tokens[token]
	var sub ourSub
	if known {
		sub = *s.subs[name]
	}
	s.mu.Unlock()
	if !ok || !known || token == "" {
		s.reject()
		http.Error(w, "no such subscription", http.StatusGone)
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.verification(w, r, name, sub)
	case http.MethodPost:
		s.pushed(w, r, name, sub)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (s *Subscriber) reject() {
	s.mu.Lock()
	s.stats.Rejected++
	s.mu.Unlock()
}

// verification answers a hub's verification of intent, or its denial.
func (s *Subscriber) verification(w http.ResponseWriter, r *http.Request, name string, sub ourSub) {
	q := r.URL.Query()
	mode, topic, challenge := q.Get("hub.mode"), q.Get("hub.topic"), q.Get("hub.challenge")
	if topic != sub.Topic {
		http.NotFound(w, r)
		return
	}
	now := s.opts.Now()
	s.mu.Lock()
	cur := s.subs[name]
	if cur == nil || cur.Token != sub.Token {
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	var lapsed bool
	switch {
	case mode == "denied":
		lapsed = cur.State != stateActive || !cur.Expires.After(now)
		cur.State, cur.Error, cur.Renewing = stateDenied, q.Get("hub.reason"), false
		cur.Failures++
		cur.NextTry = now.Add(backoff(cur.Failures, s.opts.RetryBase, s.opts.RetryMax))
		challenge = ""
	case mode == "subscribe" && challenge != "" && (cur.State == stateRequested || cur.Renewing || cur.State == stateLapsed):
		lease, err := strconv.ParseInt(q.Get("hub.lease_seconds"), 10, 64)
		if err != nil || lease <= 0 {
			lease = int64(s.opts.Lease / time.Second)
		}
		cur.State, cur.Error, cur.Failures, cur.Renewing = stateActive, "", 0, false
		cur.Requested, cur.Expires = now, now.Add(time.Duration(lease)*time.Second)
	case mode == "unsubscribe" && challenge != "" && cur.State == stateUnsubscribing:
		delete(s.subs, name)
		delete(s.tokens, cur.Token)
		cur = &ourSub{Source: name}
	default:
		s.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	src, configured := s.sources[name]
	recs := s.recordsOf([]*ourSub{cur})
	s.mu.Unlock()
	s.persist(r.Context(), recs)
	s.opts.Logger.Info("websub verified", "source", name, "mode", mode, "reason", q.Get("hub.reason"))
	if lapsed && configured && s.opts.Lapsed != nil {
		s.opts.Lapsed(src)
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, challenge)
}

// pushed takes content a hub pushed for name's subscription.
func (s *Subscriber) pushed(w http.ResponseWriter, r *http.Request, name string, sub ourSub) {
	if sub.State == stateUnsubscribing {
		s.reject()
		http.Error(w, "subscription ended", http.StatusGone)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		s.reject()
		http.Error(w, "body larger than fetch.max_bytes", http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		s.reject()
		http.Error(w, "body not read", http.StatusBadRequest)
		return
	}
	if !Verify(sub.Secret, r.Header.Get(SignatureHeader), body) {
		s.reject()
		s.opts.Logger.Warn("websub push without a valid signature dropped", "source", name)
		w.WriteHeader(http.StatusAccepted)
		return
	}
	s.enqueue(name, body, r.Header.Get("Content-Type"))
	w.WriteHeader(http.StatusAccepted)
}
