package aggregator

import "testing"

func TestRedactURL(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, in, want string }{
		{"user and password", "https://user:secret@example.com/feed", "https://example.com/feed"},
		{"user only", "http://token@example.com:8080/feed?x=1", "http://example.com:8080/feed?x=1"},
		{"at sign in password", "https://user:p@ss@example.com/feed", "https://example.com/feed"},
		{"escaped", "https://us%40er:pa%3Ass@example.com", "https://example.com"},
		{"at in path or query stays", "https://example.com/@name/feed?by=a@b#c@d", "https://example.com/@name/feed?by=a@b#c@d"},
		{"ipv6", "http://u:p@[::1]:80/f", "http://[::1]:80/f"},
		{"none", "https://example.com/feed", "https://example.com/feed"},
		{"file", "file:///srv/feeds/a.atom", "file:///srv/feeds/a.atom"},
		{"empty", "", ""},
		{"not a URL", "user:secret@example.com", "user:secret@example.com"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := RedactURL(tt.in); got != tt.want {
				t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
