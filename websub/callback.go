package websub

import (
	"crypto/hmac"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/planetgo/aggregator"
)

// The bounds of the callbacks, against a hub (anyone who knows a
// callback's token: every hub a feed names) that sends more than a hub
// needs to.
const (
	// pushBudget × MaxBytes is the most the bodies being read of all
	// pushes may take; a push whose Content-Length (MaxBytes when it
	// gives none) does not fit gets 503 with Retry-After. Being stored
	// then is the queue's to bound (see enqueue).
	pushBudget = 4
	// pushesPerToken is how many pushes to one callback are read at
	// once; more get 429 with Retry-After.
	pushesPerToken = 2
	// verifiesPerMinute is how many verification requests (GET) one
	// callback answers a minute; more get 429 with Retry-After.
	verifiesPerMinute = 10
	// maxReason is the most kept of a denial's hub.reason, in bytes.
	maxReason = 200
	// retryAfter is what the answers of a bound tell a hub to wait, in
	// seconds.
	retryAfter = "60"
)

// ServeHTTP answers hubs at CallbackPath + TOKEN (WebSub 5.3, 6, 7): the
// verification of intent of a request we made (a GET echoing
// hub.challenge, only for the topic and mode we asked for, while we wait
// for it; 404 otherwise), a denial (hub.mode=denied, taken while a
// request is pending or the subscription is live), and pushed content (a
// POST), which is taken only with a valid X-Hub-Signature of its
// subscription's secret and within MaxBytes (413 beyond). A pushed body
// with a bad or no signature is acknowledged (202) and dropped, as
// WebSub 7.1 allows, so that a forger learns nothing. An unknown token,
// or a subscription we are ending, gets 410 Gone, so that its hub drops
// it. Each callback answers verifiesPerMinute GETs a minute and reads
// pushesPerToken pushes at once, and the bodies being read of all
// pushes take at most pushBudget × MaxBytes: beyond, 429 or 503 with
// Retry-After.
func (s *Subscriber) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.URL.Path, CallbackPath)
	now := s.opts.Now()
	s.mu.Lock()
	name, known := s.tokens[token]
	var sub ourSub
	var cur *ourSub
	if known {
		cur = s.subs[name]
		sub = *cur
	}
	limited := false
	if known && r.Method == http.MethodGet {
		if now.Sub(cur.verifyWindow) >= time.Minute || now.Before(cur.verifyWindow) {
			cur.verifyWindow, cur.verifies = now, 0
		}
		cur.verifies++
		limited = cur.verifies > verifiesPerMinute
	}
	s.mu.Unlock()
	if !ok || !known || token == "" {
		s.reject()
		http.Error(w, "no such subscription", http.StatusGone)
		return
	}
	switch r.Method {
	case http.MethodGet:
		if limited {
			tooMany(w, http.StatusTooManyRequests, "too many verification requests")
			return
		}
		s.verification(w, r, name, sub)
	case http.MethodPost:
		s.pushed(w, r, name, cur)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// tooMany answers a request beyond one of the callbacks' bounds.
func tooMany(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Retry-After", retryAfter)
	http.Error(w, msg, code)
}

func (s *Subscriber) reject() {
	s.mu.Lock()
	s.stats.Rejected++
	s.mu.Unlock()
}

// verification answers a hub's verification of intent, or its denial.
// What changes nothing (a verification or denial not waited for) is not
// stored.
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
	pending := !cur.Ending && (cur.State == stateRequested || cur.Renewing || cur.State == stateLapsed)
	var lapsed bool
	var reason string
	switch {
	case mode == "denied" && (pending || cur.live(now)):
		// WebSub 5.2: the hub may deny a request, or end a subscription
		// it had granted.
		lapsed = cur.live(now)
		reason = cleanReason(q.Get("hub.reason"))
		cur.State, cur.Error, cur.Renewing = stateDenied, reason, false
		s.retryLater(cur, now)
		challenge = ""
	case mode == "subscribe" && challenge != "" && pending:
		lease := s.grantedLease(q.Get("hub.lease_seconds"))
		cur.State, cur.Error, cur.Failures, cur.Renewing = stateActive, "", 0, false
		cur.NextTry, cur.GaveUp = time.Time{}, time.Time{}
		cur.Requested, cur.Granted, cur.Expires = now, now, now.Add(lease)
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
	if mode == "denied" {
		s.opts.Logger.Warn("websub subscription denied", "source", name, "hub", aggregator.RedactURL(sub.Hub), "reason", reason)
	} else {
		s.opts.Logger.Info("websub verified", "source", name, "mode", mode)
	}
	if lapsed && configured && s.opts.Lapsed != nil {
		s.opts.Lapsed(src)
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, challenge)
}

// cleanReason is what is kept of a denial's hub.reason: valid UTF-8
// without control characters, at most maxReason bytes.
func cleanReason(reason string) string {
	reason = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(reason, "\uFFFD"))
	if len(reason) <= maxReason {
		return reason
	}
	cut := maxReason - len("…")
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut] + "…"
}

// pushed takes content a hub pushed for name's subscription, sub (s.subs'
// own, whose pushing it counts), within the callbacks' bounds. The
// signature is checked as the body is read: one whose method or hex is
// malformed is dropped before any of it is.
func (s *Subscriber) pushed(w http.ResponseWriter, r *http.Request, name string, sub *ourSub) {
	s.mu.Lock()
	ended := sub.Ending || sub.State == stateUnsubscribing || sub.State == stateInsecure
	secret := sub.Secret
	s.mu.Unlock()
	if ended {
		s.reject()
		http.Error(w, "subscription ended", http.StatusGone)
		return
	}
	if r.ContentLength > s.opts.MaxBytes {
		s.reject()
		http.Error(w, "body larger than fetch.max_bytes", http.StatusRequestEntityTooLarge)
		return
	}
	mac, want := signatureOf(secret, r.Header.Get(SignatureHeader))
	if mac == nil {
		s.dropUnsigned(w, name)
		return
	}
	need := r.ContentLength
	if need < 0 {
		need = s.opts.MaxBytes
	}
	s.mu.Lock()
	switch {
	case sub.pushing >= pushesPerToken:
		s.stats.Rejected++
		s.mu.Unlock()
		tooMany(w, http.StatusTooManyRequests, "too many pushes at once to this callback")
		return
	case s.reading+need > pushBudget*s.opts.MaxBytes:
		s.stats.Rejected++
		s.mu.Unlock()
		tooMany(w, http.StatusServiceUnavailable, "too many pushes at once")
		return
	}
	sub.pushing++
	s.reading += need
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		sub.pushing--
		s.reading -= need
		s.mu.Unlock()
	}()

	body, err := readBody(io.TeeReader(http.MaxBytesReader(w, r.Body, s.opts.MaxBytes), mac), r.ContentLength)
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
	if !hmac.Equal(mac.Sum(nil), want) {
		s.dropUnsigned(w, name)
		return
	}
	s.enqueue(name, body, r.Header.Get("Content-Type"))
	w.WriteHeader(http.StatusAccepted)
}

// readBody reads a body of length bytes (unknown if negative) from r,
// allocating no more than it needs to.
func readBody(r io.Reader, length int64) ([]byte, error) {
	if length < 0 {
		return io.ReadAll(r)
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return body, nil
}

// dropUnsigned acknowledges a push without a valid signature, and drops
// it (WebSub 7.1).
func (s *Subscriber) dropUnsigned(w http.ResponseWriter, name string) {
	s.reject()
	s.opts.Logger.Warn("websub push without a valid signature dropped", "source", name)
	w.WriteHeader(http.StatusAccepted)
}
