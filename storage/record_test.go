package storage

import (
	"bytes"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/planetgo/aggregator"
)

func sampleRecords() []itemRecord {
	at := time.Date(2026, 11, 29, 3, 4, 5, 600_700_800, time.UTC)
	return []itemRecord{
		{ID: "a", SourceID: "s", FirstSeen: at, Sort: 1, Hash: []byte("0123456789abcdef")},
		{
			ID: "tag:example.org,2026:1", SourceID: "blog", Title: "Ünïcode & <b>", Link: "https://example.org/1",
			Content: `<p class="x">"quoted"</p>` + strings.Repeat("é", 3000), Summary: "sum", Author: "Ann",
			Categories: []string{"go", "", "feeds"},
			Enclosures: []aggregator.Enclosure{{URL: "https://example.org/a.mp3", Type: "audio/mpeg", Length: 12345}, {URL: "u", Length: -1}},
			Published:  time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), Updated: time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
			FirstSeen: at, Sort: 1 << 63, Canon: "example.org/1", Hash: bytes.Repeat([]byte{0xff}, 16),
		},
		{ID: "", SourceID: "", FirstSeen: time.Unix(0, 0).UTC()}, // nothing but zeros
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, r := range sampleRecords() {
		v := r.encode()
		got, err := decodeRecord(v)
		if err != nil {
			t.Fatalf("decode(encode(%q)): %v", r.ID, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip of %q:\n got %+v\nwant %+v", r.ID, got, r)
		}
		h, err := storedHash(v)
		if err != nil || !bytes.Equal(h, r.Hash) {
			t.Errorf("storedHash(%q) = %x, %v; want %x", r.ID, h, err, r.Hash)
		}
		// Every proper prefix is refused, never read as something else.
		for n := range len(v) {
			if _, err := decodeRecord(v[:n]); err == nil {
				t.Fatalf("decode of %q cut to %d of %d bytes succeeded", r.ID, n, len(v))
			}
		}
	}
}

// A database written before the binary form holds JSON records: they are
// still read, and stored again in the binary form when they change.
func TestRecordReadsJSON(t *testing.T) {
	legacy := `{"id":"x","source":"s","title":"T","link":"https://e.org/x","content":"<p>hi</p>",` +
		`"categories":["a"],"enclosures":[{"URL":"https://e.org/x.mp3","Type":"audio/mpeg","Length":3}],` +
		`"published":"2026-01-02T03:04:05Z","first_seen":"2026-01-03T00:00:00Z","sort":42,` +
		`"canon":"e.org/x","prepared":true,"hash":"MDEyMzQ1Njc4OWFiY2RlZg=="}`
	r, err := decodeRecord([]byte(legacy))
	if err != nil {
		t.Fatal(err)
	}
	want := itemRecord{
		ID: "x", SourceID: "s", Title: "T", Link: "https://e.org/x", Content: "<p>hi</p>", Categories: []string{"a"},
		Enclosures: []aggregator.Enclosure{{URL: "https://e.org/x.mp3", Type: "audio/mpeg", Length: 3}},
		Published:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), FirstSeen: time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC),
		Sort: 42, Canon: "e.org/x", Hash: []byte("0123456789abcdef"),
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("legacy record:\n got %+v\nwant %+v", r, want)
	}
	if h, err := storedHash([]byte(legacy)); err != nil || string(h) != "0123456789abcdef" {
		t.Errorf("storedHash(legacy) = %q, %v", h, err)
	}
	for _, bad := range []string{"", "\x02", "{", "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"} {
		if _, err := decodeRecord([]byte(bad)); err == nil {
			t.Errorf("decodeRecord(%q) succeeded", bad)
		}
	}
}

// FuzzDecodeRecord: no bytes make decodeRecord or decodeSourceRecord
// panic, and what they accept in the binary form survives a round trip.
func FuzzDecodeRecord(f *testing.F) {
	for _, r := range sampleRecords() {
		f.Add(r.encode())
	}
	f.Add([]byte(`{"id":"x","sort":1}`))
	f.Add(sourceRecord{Sections: []string{"a"}, Count: 3}.encode())
	f.Fuzz(func(t *testing.T, v []byte) {
		if sr, err := decodeSourceRecord(v); err == nil && v[0] == recordBinary {
			if again, err := decodeSourceRecord(sr.encode()); err != nil || !reflect.DeepEqual(again, sr) {
				t.Fatalf("source record round trip: %+v, %v; want %+v", again, err, sr)
			}
		}
		r, err := decodeRecord(v)
		if err != nil || v[0] != recordBinary {
			return
		}
		again, err := decodeRecord(r.encode())
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(again, r) {
			t.Fatalf("round trip changed the record:\n got %+v\nwant %+v", again, r)
		}
	})
}

func TestSourceRecordRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 29, 1, 2, 3, 4, time.UTC)
	for _, r := range []sourceRecord{
		{},
		{
			State: sourceState{
				FeedTitle: "Blog ü", SiteLink: "https://b.example/", ETag: `W/"x"`, LastModified: "Sun, 29 Nov 2026 01:02:03 GMT",
				BodyHash: "abc", LastAttempt: at, LastSuccess: at.Add(-time.Hour), LastOutcome: aggregator.OutcomeFailed, LastNew: 3, LastUpdated: 1, LastError: "timeout",
				ErrorKind: "timeout", ConsecutiveFailures: 2, NextAttempt: at.Add(time.Hour), URL: "https://b.example/feed",
				RedirectTo: "https://c.example/feed", RedirectCount: 3, MovedTo: "https://c.example/feed", Gone: true,
				RetryAfter: at.Add(time.Minute), RetryAfterHost: "b.example", Image: "https://b.example/logo.png",
			},
			Sections: []string{"go", "news"}, Removed: true, Count: 12345,
		},
	} {
		v := r.encode()
		got, err := decodeSourceRecord(v)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, r)
		}
		for n := range len(v) {
			if _, err := decodeSourceRecord(v[:n]); err == nil {
				t.Fatalf("decode of a record cut to %d of %d bytes succeeded", n, len(v))
			}
		}
	}
	legacy := `{"State":{"feed_title":"T","etag":"\"e\"","last_attempt":"2026-11-29T01:02:03Z","consecutive_failures":1},"Sections":["a"],"Removed":false,"Count":7}`
	r, err := decodeSourceRecord([]byte(legacy))
	if err != nil {
		t.Fatal(err)
	}
	want := sourceRecord{State: sourceState{FeedTitle: "T", ETag: `"e"`, LastAttempt: time.Date(2026, 11, 29, 1, 2, 3, 0, time.UTC), ConsecutiveFailures: 1}, Sections: []string{"a"}, Count: 7}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("legacy record:\n got %+v\nwant %+v", r, want)
	}
}

// The result line of a record of schema 2 becomes the facts it told.
func TestLegacyOutcome(t *testing.T) {
	t.Parallel()
	tests := []struct {
		line         string
		outcome      string
		new, updated int
	}{
		{"", "", 0, 0},
		{"new 3", aggregator.OutcomeStored, 3, 0},
		{"updated 2", aggregator.OutcomeStored, 0, 2},
		{"new 4, updated 1; moved to http://x.example/feed", aggregator.OutcomeStored, 4, 1},
		{"not modified; moved to http://x.example/feed", aggregator.OutcomeNotModified, 0, 0},
		{"error: http status 500; next attempt 2026-11-01T12:00:00Z", aggregator.OutcomeFailed, 0, 0},
		{"gone: http status 410; no longer polled", aggregator.OutcomeGone, 0, 0},
	}
	for _, tt := range tests {
		rec, err := decodeSourceRecord([]byte(`{"State":{"last_result":` + strconv.Quote(tt.line) + `}}`))
		if err != nil {
			t.Fatalf("%q: %v", tt.line, err)
		}
		if st := rec.State; st.LastOutcome != tt.outcome || st.LastNew != tt.new || st.LastUpdated != tt.updated || st.LegacyResult != "" {
			t.Errorf("%q: outcome %q new %d updated %d (legacy %q), want %q %d %d", tt.line, st.LastOutcome, st.LastNew, st.LastUpdated, st.LegacyResult, tt.outcome, tt.new, tt.updated)
		}
	}
}
