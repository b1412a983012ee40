package websub

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"strings"
)

// SignatureHeader is the header a hub signs content distribution with
// (WebSub 7): "method=hex", the HMAC of the body keyed with the
// subscriber's hub.secret.
const SignatureHeader = "X-Hub-Signature"

// Sign returns the X-Hub-Signature value of body under secret, with
// HMAC-SHA256, which we always use.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig, an X-Hub-Signature value, is a valid
// signature of body under secret, with one of the methods WebSub 7.1
// names: sha1, sha256, sha384 or sha512. An empty secret or signature,
// or another method, is invalid.
func Verify(secret, sig string, body []byte) bool {
	mac, want := signatureOf(secret, sig)
	if mac == nil {
		return false
	}
	mac.Write(body)
	return hmac.Equal(mac.Sum(nil), want)
}

// signatureOf returns the HMAC, keyed with secret, of the method sig (an
// X-Hub-Signature value) names, to write the body to, and the sum sig
// wants; nil when sig is malformed, names another method, or secret is
// empty. The body can then be checked as it is read.
func signatureOf(secret, sig string) (hash.Hash, []byte) {
	method, mac, ok := strings.Cut(strings.TrimSpace(sig), "=")
	if !ok || secret == "" {
		return nil, nil
	}
	var h func() hash.Hash
	switch strings.ToLower(method) {
	case "sha1":
		h = sha1.New
	case "sha256":
		h = sha256.New
	case "sha384":
		h = sha512.New384
	case "sha512":
		h = sha512.New
	default:
		return nil, nil
	}
	want, err := hex.DecodeString(mac)
	if err != nil || len(want) != h().Size() {
		return nil, nil
	}
	return hmac.New(h, []byte(secret)), want
}
