package fetch

import (
	"strings"
	"testing"
	"time"
)

// The feed's own id and updated time are kept, for atom:source; feeds
// without an id give none.
func TestFeedIDAndUpdated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, wantID string
		wantUpdated  time.Time
	}{
		{"atom-relative-links.xml", "tag:relative.example,2026:feed", time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)},
		{"atom-prefixed-id.xml", "tag:prefixed.example,2026:a&b", time.Date(2026, 11, 4, 10, 0, 0, 0, time.UTC)},
		{"rss-basic.xml", "", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			f := parseTestdata(t, tt.file, "http://feed.example/feed", "")
			if f.ID != tt.wantID {
				t.Errorf("ID = %q, want %q", f.ID, tt.wantID)
			}
			if tt.wantUpdated.IsZero() {
				return
			}
			if !f.Updated.Equal(tt.wantUpdated) {
				t.Errorf("Updated = %v, want %v", f.Updated, tt.wantUpdated)
			}
		})
	}
}

// An id longer than maxFeedID, or with control characters, is dropped
// rather than copied into every entry.
func TestFeedIDBounded(t *testing.T) {
	t.Parallel()
	for name, id := range map[string]string{
		"long":    strings.Repeat("x", maxFeedID+1),
		"control": "tag:a\x01b",
	} {
		body := `<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title><id>` + id + `</id></feed>`
		if got := atomFeedID([]byte(body)); got != "" {
			t.Errorf("%s: atomFeedID = %.40q…, want none", name, got)
		}
	}
}
