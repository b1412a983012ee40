package fetch

import (
	"bytes"
	"mime"
	"unicode/utf8"

	"golang.org/x/net/html/charset"
)

// toUTF8 returns body as the parser should see it. gofeed decodes what the
// XML prolog's encoding= declares, and only that: a body that declares its
// encoding, has a byte-order mark, or is already valid UTF-8 is left alone
// (transcoding it first would decode it twice). Otherwise the charset of the
// Content-Type header is used, and failing that windows-1252, the superset
// of Latin-1 that undeclared non-UTF-8 feeds are nearly always written in.
func toUTF8(body []byte, contentType string) []byte {
	if utf8.Valid(body) || hasBOM(body) || declaresEncoding(body) {
		return body
	}
	label := "windows-1252"
	if _, params, err := mime.ParseMediaType(contentType); err == nil && params["charset"] != "" {
		label = params["charset"]
	}
	enc, name := charset.Lookup(label)
	if enc == nil || name == "utf-8" {
		enc, _ = charset.Lookup("windows-1252")
	}
	out, err := enc.NewDecoder().Bytes(body)
	if err != nil {
		return body
	}
	return out
}

func hasBOM(b []byte) bool {
	return bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}) ||
		bytes.HasPrefix(b, []byte{0xFE, 0xFF}) ||
		bytes.HasPrefix(b, []byte{0xFF, 0xFE})
}

// declaresEncoding reports whether b starts with an XML declaration that
// names an encoding, after any whitespace and control bytes (which gofeed
// drops).
func declaresEncoding(b []byte) bool {
	b = bytes.TrimLeftFunc(b, func(r rune) bool { return r <= ' ' })
	if !bytes.HasPrefix(b, []byte("<?xml")) {
		return false
	}
	end := bytes.Index(b, []byte("?>"))
	if end < 0 {
		return false
	}
	return bytes.Contains(b[:end], []byte("encoding"))
}
