package websub

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"testing"
)

// hmacHex is the hex HMAC of body under secret with method, computed here
// independently of Verify.
func hmacHex(method, secret, body string) string {
	h := map[string]func() hash.Hash{"sha1": sha1.New, "sha256": sha256.New, "sha384": sha512.New384, "sha512": sha512.New}[method]
	m := hmac.New(h, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

func TestSignAndVerify(t *testing.T) {
	t.Parallel()
	body := []byte("<feed/>")
	if got, want := Sign("k", body), "sha256="+hmacHex("sha256", "k", "<feed/>"); got != want {
		t.Errorf("Sign() = %s, want %s", got, want)
	}
	for _, tt := range []struct {
		name, secret, sig string
		want              bool
	}{
		{"sha256", "k", Sign("k", body), true},
		{"sha1", "k", "sha1=" + hmacHex("sha1", "k", "<feed/>"), true},
		{"upper case method", "k", "SHA512=" + hmacHex("sha512", "k", "<feed/>"), true},
		{"wrong key", "k2", Sign("k", body), false},
		{"no secret", "", Sign("", body), false},
		{"empty", "k", "", false},
		{"no method", "k", hmacHex("sha256", "k", "<feed/>"), false},
		{"truncated", "k", Sign("k", body)[:20], false},
		{"md5", "k", "md5=00", false},
	} {
		if got := Verify(tt.secret, tt.sig, body); got != tt.want {
			t.Errorf("%s: Verify() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
