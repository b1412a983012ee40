package storage

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/planetgo/aggregator"
)

// Item records are stored in a compact binary form: a format byte, then the
// fields of itemRecord in a fixed order, strings as a uvarint length and
// their bytes. Encoding them as JSON cost a twentieth of a first pass's CPU
// and a fifth more bytes on disk (every quote of the HTML escaped).
// Databases written before the binary form hold JSON records, which start
// with '{'; decodeRecord reads both, and a record is rewritten in the
// binary form whenever it is stored again.
const recordBinary byte = 1

// sourceRecordV2 starts a source record of schema 3: the fields of the
// binary form, with the last fetch's outcome where format 1 had its result
// line, then the feed's id, its updated time, the name its items are
// published as, and the counts of the last fetch that stored items.
// Records of format 1 lack those, read as empty, and their result line is
// turned into an outcome (legacyOutcome).
const sourceRecordV2 byte = 2

// sourceRecordV3 is sourceRecordV2 followed by the feed's own image
// (SourceState.Image). Records of formats 1 and 2 are read with none; a
// record is written in format 3 whenever it is stored again.
const sourceRecordV3 byte = 3

// encode returns r as stored: the format byte, the hash (first, so that
// storedHash need not read the rest), the strings, categories,
// enclosures, dates, sort value and a byte once the prepared flag.
func (r itemRecord) encode() []byte {
	n := 64 + len(r.ID) + len(r.SourceID) + len(r.Title) + len(r.Link) + len(r.Content) +
		len(r.Summary) + len(r.Author) + len(r.Canon) + len(r.Hash)
	for _, c := range r.Categories {
		n += 2 + len(c)
	}
	for _, e := range r.Enclosures {
		n += 12 + len(e.URL) + len(e.Type)
	}
	b := make([]byte, 0, n)
	b = append(b, recordBinary)
	b = appendString(b, string(r.Hash)) // first, for storedHash
	for _, s := range []string{r.ID, r.SourceID, r.Title, r.Link, r.Content, r.Summary, r.Author, r.Canon} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Categories)))
	for _, c := range r.Categories {
		b = appendString(b, c)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Enclosures)))
	for _, e := range r.Enclosures {
		b = appendString(b, e.URL)
		b = appendString(b, e.Type)
		b = binary.AppendVarint(b, e.Length)
	}
	for _, t := range []time.Time{r.Published, r.Updated, r.FirstSeen} {
		b = appendTime(b, t)
	}
	b = binary.AppendUvarint(b, r.Sort)
	return append(b, 0) // once a "prepared" flag; read and ignored
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendTime writes the zero time as a single 0, any other as 1, its Unix
// seconds and nanoseconds: every year a feed can state survives the trip.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

var errTruncated = errors.New("record truncated")

// decodeRecord reads a stored item record, binary or (from older
// databases) JSON. It returns an error, never panics, on bytes that are not
// a record.
func decodeRecord(v []byte) (itemRecord, error) {
	var r itemRecord
	d, err := openRecord(v, &r, recordBinary)
	if d == nil {
		return r, corruptRecord(err)
	}
	if h := d.string(); h != "" {
		r.Hash = []byte(h)
	}
	for _, s := range []*string{&r.ID, &r.SourceID, &r.Title, &r.Link, &r.Content, &r.Summary, &r.Author, &r.Canon} {
		*s = d.string()
	}
	if n := d.count(1); n > 0 {
		r.Categories = make([]string, n)
		for i := range r.Categories {
			r.Categories[i] = d.string()
		}
	}
	if n := d.count(3); n > 0 {
		r.Enclosures = make([]aggregator.Enclosure, n)
		for i := range r.Enclosures {
			e := &r.Enclosures[i]
			e.URL, e.Type, e.Length = d.string(), d.string(), d.varint()
		}
	}
	for _, t := range []*time.Time{&r.Published, &r.Updated, &r.FirstSeen} {
		*t = d.time()
	}
	r.Sort = d.uvarint()
	// Records of schema 2 may hold sanitized HTML (the store once kept
	// the sanitized version of published items, with a 1 here); publish
	// sanitizes what it shows, and sanitized HTML comes out unchanged.
	d.byte()
	return r, corruptRecord(d.end())
}

// openRecord returns a decoder over the fields of the binary record v. A
// JSON record (of an older database) it decodes into legacy itself, and
// returns no decoder, as for bytes of none of the binary formats given.
func openRecord(v []byte, legacy any, formats ...byte) (*decoder, error) {
	switch {
	case len(v) > 0 && v[0] == '{':
		return nil, json.Unmarshal(v, legacy)
	case len(v) == 0 || !slices.Contains(formats, v[0]):
		return nil, errors.New("unknown record format")
	}
	return &decoder{b: v[1:]}, nil
}

// storedHash returns the content hash of a stored record, reading no more
// of a binary one than the hash.
func storedHash(v []byte) ([]byte, error) {
	if len(v) > 0 && v[0] == recordBinary {
		d := decoder{b: v[1:]}
		n := d.uvarint()
		if d.err != nil || n > uint64(len(d.b)) {
			return nil, corruptRecord(errTruncated)
		}
		return d.b[:n], nil
	}
	r, err := decodeRecord(v)
	return r.Hash, err
}

// decoder reads the binary record form. After its first error it reads
// zero values and keeps the error.
type decoder struct {
	b   []byte
	err error
}

// end returns the first error, or one for bytes left after the record.
func (d *decoder) end() error {
	if d.err == nil && len(d.b) > 0 {
		d.err = fmt.Errorf("%d bytes after the record", len(d.b))
	}
	return d.err
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errTruncated)
		return 0
	}
	d.b = d.b[n:]
	return x
}

// varint reads what binary.AppendVarint wrote: a zig-zag uvarint.
func (d *decoder) varint() int64 {
	u := d.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail(errTruncated)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// count reads a number of elements each at least min bytes long, refusing
// one the rest of the record cannot hold.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/min) {
		d.fail(errTruncated)
		return 0
	}
	return int(n)
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail(errTruncated)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) time() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
		sec, nsec := d.varint(), d.uvarint()
		if nsec >= 1e9 || sec < math.MinInt64/2 || sec > math.MaxInt64/2 {
			d.fail(errors.New("bad time"))
			return time.Time{}
		}
		return time.Unix(sec, int64(nsec)).UTC()
	default:
		d.fail(errors.New("bad time"))
		return time.Time{}
	}
}

// Source records are binary too, in the same way: a format byte, then the
// state's fields in the order of sourceState, the sections, the removed
// flag and the item count. A pass writes the state of every source it
// fetched and a start reads them all; as JSON that was a fiftieth of a
// pass that found little new. Records of older databases are JSON, read
// as such and rewritten binary when next stored.

// encode returns r as stored.
func (r sourceRecord) encode() []byte {
	st := r.State
	b := make([]byte, 0, 128+len(st.FeedTitle)+len(st.SiteLink)+len(st.LastError)+len(st.URL)+len(st.FeedID)+len(st.Image))
	b = append(b, sourceRecordV3)
	for _, s := range []string{st.FeedTitle, st.SiteLink, st.ETag, st.LastModified, st.BodyHash} {
		b = appendString(b, s)
	}
	b = appendTime(b, st.LastAttempt)
	b = appendTime(b, st.LastSuccess)
	for _, s := range []string{st.LastOutcome, st.LastError, st.ErrorKind} {
		b = appendString(b, s)
	}
	b = binary.AppendVarint(b, int64(st.ConsecutiveFailures))
	b = appendTime(b, st.NextAttempt)
	b = appendString(b, st.URL)
	b = appendString(b, st.RedirectTo)
	b = binary.AppendVarint(b, int64(st.RedirectCount))
	b = appendString(b, st.MovedTo)
	b = appendBool(b, st.Gone)
	b = appendTime(b, st.RetryAfter)
	b = appendString(b, st.RetryAfterHost)
	b = binary.AppendUvarint(b, uint64(len(r.Sections)))
	for _, s := range r.Sections {
		b = appendString(b, s)
	}
	b = appendBool(b, r.Removed)
	b = binary.AppendVarint(b, int64(r.Count))
	b = appendString(b, st.FeedID)
	b = appendTime(b, st.FeedUpdated)
	b = appendString(b, st.PublishedAs)
	b = binary.AppendVarint(b, int64(st.LastNew))
	b = binary.AppendVarint(b, int64(st.LastUpdated))
	return appendString(b, st.Image)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// decodeSourceRecord reads a stored source record, binary or JSON.
func decodeSourceRecord(v []byte) (sourceRecord, error) {
	var r sourceRecord
	d, err := openRecord(v, &r, recordBinary, sourceRecordV2, sourceRecordV3)
	if d == nil {
		r.State.legacyOutcome()
		return r, corruptRecord(err)
	}
	format := v[0]
	st := &r.State
	for _, s := range []*string{&st.FeedTitle, &st.SiteLink, &st.ETag, &st.LastModified, &st.BodyHash} {
		*s = d.string()
	}
	st.LastAttempt, st.LastSuccess = d.time(), d.time()
	// Format 1 has the result line where format 2 has the outcome.
	result := &st.LastOutcome
	if format == recordBinary {
		result = &st.LegacyResult
	}
	for _, s := range []*string{result, &st.LastError, &st.ErrorKind} {
		*s = d.string()
	}
	st.ConsecutiveFailures = int(d.varint())
	st.NextAttempt = d.time()
	st.URL, st.RedirectTo = d.string(), d.string()
	st.RedirectCount = int(d.varint())
	st.MovedTo = d.string()
	st.Gone = d.byte() == 1
	st.RetryAfter = d.time()
	st.RetryAfterHost = d.string()
	if n := d.count(1); n > 0 {
		r.Sections = make([]string, n)
		for i := range r.Sections {
			r.Sections[i] = d.string()
		}
	}
	r.Removed = d.byte() == 1
	r.Count = int(d.varint())
	if format >= sourceRecordV2 {
		st.FeedID = d.string()
		st.FeedUpdated = d.time()
		st.PublishedAs = d.string()
		st.LastNew, st.LastUpdated = int(d.varint()), int(d.varint())
	}
	if format >= sourceRecordV3 {
		st.Image = d.string()
	}
	st.legacyOutcome()
	return r, corruptRecord(d.end())
}

// legacyOutcome turns the result line of a record of schema 2 or before
// into the facts it told: "new 3", "updated 1", "new 2, updated 1", "not
// modified", "error: …" or "gone: …".
func (st *sourceState) legacyOutcome() {
	r := st.LegacyResult
	st.LegacyResult = ""
	switch {
	case r == "":
	case strings.HasPrefix(r, "gone: "):
		st.LastOutcome = aggregator.OutcomeGone
	case strings.HasPrefix(r, "error: "):
		st.LastOutcome = aggregator.OutcomeFailed
	case strings.HasPrefix(r, "not modified"):
		st.LastOutcome = aggregator.OutcomeNotModified
	default:
		st.LastOutcome = aggregator.OutcomeStored
		for _, part := range strings.Split(strings.Split(r, ";")[0], ", ") {
			var n int
			if _, err := fmt.Sscanf(part, "new %d", &n); err == nil {
				st.LastNew = n
			} else if _, err := fmt.Sscanf(part, "updated %d", &n); err == nil {
				st.LastUpdated = n
			}
		}
	}
}
