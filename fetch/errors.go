package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
)

var (
	// ErrTooLarge is returned when a body is larger than Options.MaxBytes.
	ErrTooLarge = errors.New("response too large")
	// ErrTimeout is returned when a fetch takes longer than Options.Timeout.
	ErrTimeout = errors.New("timeout")
	// ErrNotFeed is returned when a body is neither RSS, Atom nor JSON Feed.
	ErrNotFeed = errors.New("not a feed")
)

// StatusError is returned for a response that is neither a success nor 304.
type StatusError struct {
	Code int
}

func (e *StatusError) Error() string {
	if text := http.StatusText(e.Code); text != "" {
		return fmt.Sprintf("http status %d %s", e.Code, text)
	}
	return fmt.Sprintf("http status %d", e.Code)
}

// ParseError is returned when a body looks like a feed but cannot be parsed.
type ParseError struct {
	Err error
}

func (e *ParseError) Error() string { return "parse error: " + e.Err.Error() }

func (e *ParseError) Unwrap() error { return e.Err }

// Kind classifies a fetch error in a word or two for logs, metrics and status
// pages: "dns", "connect", "tls", "timeout", "http status N", "too large",
// "not a feed", "parse error", "canceled", "file" or "other".
func Kind(err error) string {
	var (
		status  *StatusError
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
	case errors.As(err, &parse):
		return "parse error"
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
	case errors.Is(err, errFile):
		return "file"
	}
	return "other"
}

// errFile marks errors reading a local source file.
var errFile = errors.New("file")
