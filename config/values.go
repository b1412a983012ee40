package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// The parsers below return errors that read as the rest of a sentence about
// the value, as in `fetch.timeout "30" ` + err.Error().

// parseDuration parses Go's duration syntax ("30s", "1h30m") with an
// optional whole number of days in front ("7d", "1d12h"). It refuses
// negative durations.
func parseDuration(s string) (time.Duration, error) {
	if strings.HasPrefix(s, "-") {
		return 0, errors.New("is negative")
	}
	errSyntax := errors.New(`is not a duration (write e.g. "30s", "15m", "1h30m" or "7d")`)
	var days time.Duration
	if before, after, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.ParseUint(before, 10, 64)
		if err != nil {
			return 0, errSyntax
		}
		if n > math.MaxInt64/uint64(24*time.Hour) {
			return 0, errors.New("is too long")
		}
		days = time.Duration(n) * 24 * time.Hour
		if after == "" {
			return days, nil
		}
		s = after
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, errSyntax
	case d > math.MaxInt64-days:
		return 0, errors.New("is too long")
	case d < 0:
		return 0, errors.New("is negative")
	}
	return days + d, nil
}

// parseSize parses a number of bytes: a whole number, maybe followed by a
// unit, B, KB, MB, GB (powers of 1000) or KiB, MiB, GiB (powers of 1024).
// Units are not case-sensitive, and a space may come before them.
func parseSize(s string) (int64, error) {
	if strings.HasPrefix(s, "-") {
		return 0, errors.New("is negative")
	}
	errSyntax := errors.New(`is not a size (write e.g. "10MiB", "500KB" or 1048576)`)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(s)
	}
	digits, unit := s[:i], strings.TrimSpace(s[i:])
	if digits == "" {
		return 0, errSyntax
	}
	var scale int64
	switch strings.ToLower(unit) {
	case "", "b":
		scale = 1
	case "kb":
		scale = 1e3
	case "mb":
		scale = 1e6
	case "gb":
		scale = 1e9
	case "kib":
		scale = 1 << 10
	case "mib":
		scale = 1 << 20
	case "gib":
		scale = 1 << 30
	default:
		return 0, errSyntax
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > math.MaxInt64/scale {
		return 0, errors.New("is too large")
	}
	return n * scale, nil
}

// checkSchedule returns nil if robfig/cron takes spec as a standard cron
// spec (five fields or a descriptor such as "@hourly" or "@every 15m") that
// fires now and then; otherwise an error that suggests a fix.
func checkSchedule(spec string) error {
	sched, err := parseCron(spec)
	if err != nil {
		if try := suggestSchedule(spec); len(try) > 0 {
			return fmt.Errorf("is not a cron spec (try %s)", quotedOr(try))
		}
		return fmt.Errorf(`is not a cron spec: %s (e.g. "*/15 * * * *", "@hourly" or "@every 15m")`, clip(err.Error()))
	}
	body := spec
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		var zone string
		zone, body, _ = strings.Cut(spec, " ")
		if _, name, _ := strings.Cut(zone, "="); name == "Local" {
			// The host's zone, which changes with the host: the schedules
			// are read in UTC, or in the IANA zone they name.
			return errors.New(`names the host's zone (Local); name an IANA zone, as in "TZ=Europe/Berlin 0 6 * * *", or none for UTC`)
		}
	}
	// cron.Every quietly turns "@every -5m" into every second.
	if every, ok := strings.CutPrefix(strings.TrimSpace(body), "@every "); ok {
		if d, err := time.ParseDuration(every); err == nil && d < time.Second {
			return errors.New("repeats more often than every second")
		}
	}
	// "0 0 30 2 *" parses, but February has no 30th. Any fixed time will do:
	// cron looks five years ahead.
	if sched.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return errors.New("never fires")
	}
	return nil
}

// parseCron calls cron.ParseStandard, which panics on some specs such as
// "TZ=UTC" (robfig/cron issue #554).
func parseCron(spec string) (sched cron.Schedule, err error) {
	defer func() {
		if recover() != nil {
			sched, err = nil, errors.New("want a time zone and then a schedule")
		}
	}()
	return cron.ParseStandard(spec)
}

// suggestSchedule returns cron specs for a spec that reads like an interval,
// such as "every 5m" or "1h"; nil for anything else.
func suggestSchedule(spec string) []string {
	s := strings.TrimPrefix(strings.TrimSpace(spec), "@")
	s = strings.TrimSpace(strings.TrimPrefix(s, "every"))
	d, err := parseDuration(s)
	if err != nil || d < time.Second {
		return nil
	}
	var try []string
	switch mins, hours := int(d/time.Minute), int(d/time.Hour); {
	case d == time.Minute:
		try = append(try, "* * * * *")
	case d%time.Minute == 0 && mins < 60 && 60%mins == 0:
		try = append(try, fmt.Sprintf("*/%d * * * *", mins))
	case d == time.Hour:
		try = append(try, "@hourly")
	case d%time.Hour == 0 && hours < 24 && 24%hours == 0:
		try = append(try, fmt.Sprintf("0 */%d * * *", hours))
	case d == 24*time.Hour:
		try = append(try, "@daily")
	case d == 7*24*time.Hour:
		try = append(try, "@weekly")
	}
	return append(try, "@every "+shortDuration(d))
}

// shortDuration formats d without zero minutes and seconds: "5m", not "5m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// quotedOr returns `"a"`, or `"a" or "b"`.
func quotedOr(words []string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = strconv.Quote(w)
	}
	return strings.Join(quoted, " or ")
}

// sourceURL returns the URL to fetch for a source's url as written: an
// http(s) URL as it is, a local file as a file:// URL of its absolute path.
// Relative paths are resolved against dir.
func sourceURL(s, dir string) (string, error) {
	if strings.HasPrefix(s, "//") {
		// A URL with its scheme left out, not the path of a file.
		return "", errors.New("has no scheme (write https://... or, for a local file, ./path)")
	}
	if strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") {
		return fileURL(s, dir), nil
	}
	u, err := url.Parse(s)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return "", fmt.Errorf("is not a valid URL: %v", err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Hostname() == "" {
			return "", errors.New("has no host")
		}
		if !isPort(u.Port()) {
			return "", errors.New("has a port out of range (1 to 65535)")
		}
		return s, nil
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return "", fmt.Errorf(`names host %q; a local file is file:///path or ./path`, u.Host)
		}
		p := u.Path
		if u.Opaque != "" {
			p, err = url.PathUnescape(u.Opaque) // "file:feeds/x.atom"
			if err != nil {
				return "", fmt.Errorf("is not a valid URL: %v", err)
			}
		}
		if p == "" {
			return "", errors.New("has no path")
		}
		return fileURL(p, dir), nil
	}
	// "localhost:8080/feed" parses with the scheme "localhost".
	if u.Scheme == "" || !strings.Contains(s, "://") {
		return "", errors.New("has no scheme (write https://... or, for a local file, ./path)")
	}
	return "", fmt.Errorf("has the scheme %q; want http, https or a local file", u.Scheme)
}

// isPort reports whether the port of a URL is empty (the scheme's) or a
// number from 1 to 65535.
func isPort(port string) bool {
	n, err := strconv.ParseUint(port, 10, 16)
	return port == "" || err == nil && n > 0
}

// fileURL returns the file:// URL of the file at p, relative to dir.
func fileURL(p, dir string) string {
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Clean(p))}).String()
}

// deriveName returns the name of a source that has none: the host and path of
// its URL, or a local file's base name without its extension, lower-cased,
// with each run of characters other than a-z and 0-9 replaced by "-". It
// returns "" when nothing is left.
func deriveName(sourceURL string) string {
	u, err := url.Parse(sourceURL)
	if err != nil {
		return ""
	}
	if u.Scheme == "file" {
		base := path.Base(u.Path)
		return slug(strings.TrimSuffix(base, path.Ext(base)))
	}
	return slug(u.Host + u.Path)
}

// slug lower-cases s and replaces each run of characters other than a-z and
// 0-9 with one "-", trimmed from the ends.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	return b.String()
}

// nameRule says which names isName accepts.
const nameRule phrase = `is not a valid name: use a-z, 0-9, ".", "_" and "-", starting with a letter or digit`

// isName reports whether s may name a source or section: it matches
// ^[a-z0-9][a-z0-9._-]*$, since names appear in URLs and on the command line.
func isName(s string) bool {
	for i, r := range s {
		ok := 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || i > 0 && (r == '.' || r == '_' || r == '-')
		if !ok {
			return false
		}
	}
	return s != ""
}
