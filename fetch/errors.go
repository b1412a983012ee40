package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

var (
	// ErrTooLarge is returned when a body is larger than Options.MaxBytes.
	ErrTooLarge = errors.New("response too large")
	// ErrTimeout is returned when a fetch takes longer than Options.Timeout.
	ErrTimeout = errors.New("timeout")
	// ErrNotFeed is returned when a body is neither RSS, Atom nor JSON Feed.
	ErrNotFeed = errors.New("not a feed")
	// ErrTooComplex is returned for XML shaped to exhaust the parser: nested
	// too deep, or with text in too many fragments.
	ErrTooComplex = errors.New("feed too complex")
	// ErrRedirectLoop is returned when a redirect leads back to a URL the
	// same fetch already asked for.
	ErrRedirectLoop = errors.New("redirect loop")
	// ErrTooManyRedirects is returned after more than 10 redirects.
	ErrTooManyRedirects = errors.New("too many redirects")
	// ErrPrivateRedirect is returned when a redirect of a source that is
	// not internal (IsInternal) leads to a private address (IsPrivate),
	// which Options.AllowPrivateRedirects did not allow.
	ErrPrivateRedirect = errors.New("redirect to a private address refused")
	// ErrPrivateAddress is returned when the address of a source that is
	// not internal (IsInternal) is private: its name resolved to one, as
	// an intranet name does, or a public name whose DNS was pointed inward
	// (DNS rebinding). Options.AllowPrivateRedirects did not allow it.
	ErrPrivateAddress = errors.New("private address refused")
)

// StatusError is returned for a response that is neither a success nor 304.
type StatusError struct {
	Code int
	URL  string // the URL that answered, after any redirects

	// RetryAfter is when a 429 or 503 answer's Retry-After header asks us to
	// come back, capped at Options.MaxRetryAfter; zero when it has none.
	RetryAfter time.Time
}

func (e *StatusError) Error() string {
	if text := http.StatusText(e.Code); text != "" {
		return fmt.Sprintf("http status %d %s", e.Code, text)
	}
	return fmt.Sprintf("http status %d", e.Code)
}

// HostBlockedError is returned, before any request is sent, for a source
// whose host answered 429 or 503 with a Retry-After that has not passed
// yet. It is no fault of the source.
type HostBlockedError struct {
	Host  string
	Until time.Time
}

func (e *HostBlockedError) Error() string {
	return fmt.Sprintf("host %s asked for no requests before %s", e.Host, e.Until.UTC().Format(time.RFC3339))
}

// ParseError is returned when a body looks like a feed but cannot be parsed.
type ParseError struct {
	Err error
}

func (e *ParseError) Error() string { return "parse error: " + e.Err.Error() }

func (e *ParseError) Unwrap() error { return e.Err }

// Kind classifies a fetch error in a word or two for logs, metrics and status
// pages: "dns", "connect", "tls", "timeout", "http status N", "too large",
// "not a feed", "too complex", "parse error", "redirect loop", "too many redirects",
// "private redirect", "private address", "host blocked", "canceled", "file" or "other".
func Kind(err error) string {
	var (
		status  *StatusError
		blocked *HostBlockedError
		timeout interface{ Timeout() bool }
		parse   *ParseError
		dnsErr  *net.DNSError
		opErr   *net.OpError
		certErr *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		record  tls.RecordHeaderError
		alert   tls.AlertError
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &status):
		return fmt.Sprintf("http status %d", status.Code)
	case errors.Is(err, ErrTooLarge):
		return "too large"
	case errors.Is(err, ErrNotFeed):
		return "not a feed"
	case errors.Is(err, ErrTooComplex):
		return "too complex"
	case errors.As(err, &parse):
		return "parse error"
	case errors.Is(err, ErrRedirectLoop):
		return "redirect loop"
	case errors.Is(err, ErrTooManyRedirects):
		return "too many redirects"
	case errors.Is(err, ErrPrivateRedirect):
		return "private redirect"
	case errors.Is(err, ErrPrivateAddress):
		return "private address"
	case errors.As(err, &blocked):
		return "host blocked"
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.As(err, &dnsErr):
		return "dns"
	case errors.As(err, &certErr), errors.As(err, &unknown), errors.As(err, &host),
		errors.As(err, &invalid), errors.As(err, &record), errors.As(err, &alert):
		return "tls"
	case errors.As(err, &opErr):
		if opErr.Timeout() {
			return "timeout"
		}
		return "connect"
	case errors.As(err, &timeout) && timeout.Timeout():
		// net/http's "timeout awaiting response headers".
		return "timeout"
	case errors.Is(err, errFile):
		return "file"
	}
	return "other"
}

// errFile marks errors reading a local source file.
var errFile = errors.New("file")
