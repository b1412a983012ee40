package aggregator

import (
	"net/url"
	"testing"
)

func TestCanonicalLink(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"already canonical", "https://blog.example/post", "https://blog.example/post"},
		{"case of scheme and host", "HTTPS://Blog.Example/Post", "https://blog.example/Post"},
		{"default https port", "https://blog.example:443/post", "https://blog.example/post"},
		{"default http port", "http://blog.example:80/post", "http://blog.example/post"},
		{"other port kept", "http://blog.example:8080/post", "http://blog.example:8080/post"},
		{"fragment kept", "https://blog.example/2026/12/06#a1", "https://blog.example/2026/12/06#a1"},
		{"fragment kept after tracking dropped", "https://Blog.example/day?utm_source=x#a2", "https://blog.example/day#a2"},
		{"empty fragment dropped", "https://blog.example/post#", "https://blog.example/post"},
		{"utm dropped", "https://blog.example/post?utm_source=rss&utm_medium=feed", "https://blog.example/post"},
		{"tracking dropped, rest kept sorted", "https://blog.example/post?p=2&fbclid=x&a=1", "https://blog.example/post?a=1&p=2"},
		{"empty path", "https://blog.example", "https://blog.example/"},
		{"user info dropped", "https://me:pw@blog.example/post", "https://blog.example/post"},
		{"ipv6 host", "http://[::1]:80/x", "http://[::1]/x"},
		{"relative", "/post", ""},
		{"not http", "mailto:a@b.example", ""},
		{"empty", "", ""},
		{"unparseable", "http://%zz/", ""},
		{"broken query", "http://a.example/p?x=%zz", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := CanonicalLink(tt.in); got != tt.want {
				t.Errorf("CanonicalLink(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// FuzzCanonicalLink checks that CanonicalLink never panics, is idempotent,
// and returns "" or an absolute URL that parses.
func FuzzCanonicalLink(f *testing.F) {
	for _, s := range []string{"https://a.example/b?utm_x=1#f", "http://[::1]:80", "HTTP://A:443/", "//x", "http://a/%2F?q=%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := CanonicalLink(in)
		if out == "" {
			return
		}
		u, err := url.Parse(out)
		if err != nil || !u.IsAbs() {
			t.Fatalf("CanonicalLink(%q) = %q, not an absolute URL", in, out)
		}
		if again := CanonicalLink(out); again != out {
			t.Errorf("CanonicalLink not idempotent: %q → %q → %q", in, out, again)
		}
	})
}
