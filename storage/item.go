package storage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/planetgo/aggregator"
	bolt "go.etcd.io/bbolt"
)

// itemRecord is the stored form of an item.
type itemRecord struct {
	ID         string                 `json:"id"`
	SourceID   string                 `json:"source"`
	Title      string                 `json:"title,omitempty"`
	Link       string                 `json:"link,omitempty"`
	Content    string                 `json:"content,omitempty"`
	Summary    string                 `json:"summary,omitempty"`
	Author     string                 `json:"author,omitempty"`
	Categories []string               `json:"categories,omitempty"`
	Enclosures []aggregator.Enclosure `json:"enclosures,omitempty"`
	Published  time.Time              `json:"published,omitzero"`
	Updated    time.Time              `json:"updated,omitzero"`
	FirstSeen  time.Time              `json:"first_seen"`
	Sort       uint64                 `json:"sort"`            // the index time, fixed when first stored
	Canon      string                 `json:"canon,omitempty"` // aggregator.CanonicalLink(Link), for deduplication
	Hash       []byte                 `json:"hash"`            // of what a reader sees, to detect changes
}

func (r itemRecord) item() aggregator.Item {
	return aggregator.Item{
		ID:         r.ID,
		SourceID:   r.SourceID,
		Title:      r.Title,
		Link:       r.Link,
		Content:    r.Content,
		Summary:    r.Summary,
		Author:     r.Author,
		Categories: r.Categories,
		Enclosures: r.Enclosures,
		Published:  r.Published,
		Updated:    r.Updated,
		FirstSeen:  r.FirstSeen,
	}
}

// contentHash covers what a reader sees of an item. Dates are left out: a
// feed that only bumps its updated date has not changed the item. The
// fields are length-prefixed into a pooled buffer and hashed at once.
func contentHash(it aggregator.Item) []byte {
	bp := hashBuffers.Get().(*[]byte)
	b := (*bp)[:0]
	field := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	field(it.Title)
	field(it.Link)
	field(it.Content)
	field(it.Summary)
	field(it.Author)
	for _, c := range it.Categories {
		field(c)
	}
	field("")
	for _, e := range it.Enclosures {
		field(e.URL)
		field(e.Type)
		field(strconv.FormatInt(e.Length, 10))
	}
	sum := sha256.Sum256(b)
	*bp = b
	hashBuffers.Put(bp)
	return sum[:16]
}

var hashBuffers = sync.Pool{New: func() any { return new([]byte) }}

// SaveResult counts what a Save changed.
type SaveResult struct {
	New     int // items stored for the first time
	Updated int // stored items whose content changed
}

// Save stores one fetch of src: its items, their index entries and the
// source's state, in one transaction, so that after a crash the source is
// either wholly updated or not at all. An item already stored with the same
// content is left as it is; one whose content changed is updated in place,
// keeping its first-seen time and its place in the order. Items pruned by
// retention that the feed still lists are not stored again.
//
// st is stored as the source's state in the same transaction, with LastNew
// and LastUpdated set to what the Save stored.
func (s *Store) Save(ctx context.Context, src aggregator.Source, items []aggregator.Item, st aggregator.SourceState) (SaveResult, error) {
	var res SaveResult
	if err := ctx.Err(); err != nil {
		return res, err
	}
	hashes := make([][]byte, len(items))
	for i, it := range items {
		hashes[i] = contentHash(it)
	}
	now := s.now().UTC()
	var saved sourceState
	var touched [][]byte // keys of the items stored or changed
	s.flushMu.RLock()
	defer s.flushMu.RUnlock()
	// The function may run twice (see write): it starts from scratch.
	err := s.write(func(tx *bolt.Tx) error {
		res, touched = SaveResult{}, touched[:0]
		rec, ok, err := getSource(tx, src.Name)
		if err != nil {
			return err
		}
		if !ok {
			rec.Sections = src.Sections
		}
		w := newIndexWriter(tx, src.Name)
		seen := make(map[string]bool, len(items))
		for i, it := range items {
			k := itemKey(it.ID)
			if seen[string(k)] {
				continue
			}
			seen[string(k)] = true
			changed, isNew, err := w.put(it, k, hashes[i], now)
			if err != nil {
				return fmt.Errorf("item %q: %w", it.ID, err)
			}
			switch {
			case isNew:
				res.New++
				rec.Count++
			case changed:
				res.Updated++
			}
			if isNew || changed {
				touched = append(touched, k)
			}
		}
		s.catalog.saving(src.Name, rec, w.newest)
		if err := w.flush(); err != nil {
			return err
		}
		if err := w.forgetTombstones(seen); err != nil {
			return err
		}
		published := rec.State.PublishedAs
		rec.State = recordState(st)
		rec.State.LastNew, rec.State.LastUpdated = res.New, res.Updated
		rec.State.PublishedAs = published // the store's to keep
		saved = rec.State
		return putSource(tx, src.Name, rec)
	})
	if err != nil {
		return SaveResult{}, fmt.Errorf("save source %q: %w", src.Name, err)
	}
	s.stateSaved(src.Name, saved)
	if len(touched) > 0 {
		s.itemsChanged(src.Name, touched)
	}
	return res, nil
}

// indexWriter writes one source's items and their by_source entries.
type indexWriter struct {
	srcKey     []byte
	items      *bolt.Bucket
	bySource   *bolt.Bucket
	tombstones *bolt.Bucket
	newest     uint64 // the greatest sort value of the new items
	placed     uint64 // how many new items were put: see feedOrder

	// Writes wait here until flush, which applies them bucket by bucket in
	// key order. bbolt keeps a transaction's inserts into one page in one
	// growing node, so inserting in random order moves the node's tail on
	// every put: quadratic, minutes for a 100,000-item feed. In key order
	// each put appends.
	staged map[*bolt.Bucket][]kv
}

type kv struct{ k, v []byte }

func (w *indexWriter) stage(b *bolt.Bucket, k, v []byte) {
	if w.staged == nil {
		w.staged = make(map[*bolt.Bucket][]kv)
	}
	w.staged[b] = append(w.staged[b], kv{k, v})
}

// flush applies the staged writes.
func (w *indexWriter) flush() error {
	for b, puts := range w.staged {
		slices.SortFunc(puts, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
		for _, p := range puts {
			if err := b.Put(p.k, p.v); err != nil {
				return err
			}
		}
	}
	w.staged = nil
	return nil
}

func newIndexWriter(tx *bolt.Tx, name string) *indexWriter {
	w := &indexWriter{
		srcKey:     sourceKey(name),
		items:      tx.Bucket(bucketItems),
		bySource:   tx.Bucket(bucketBySource),
		tombstones: tx.Bucket(bucketTombstones),
	}
	// A source's new items mostly go to the end of its range: pack pages
	// densely (not persisted by bbolt).
	w.bySource.FillPercent = 0.9
	return w
}

// put stores it under key k, reporting whether it changed a stored item and
// whether it is new.
func (w *indexWriter) put(it aggregator.Item, k, hash []byte, now time.Time) (changed, isNew bool, err error) {
	fullKey := concat(w.srcKey, k)
	if v := w.tombstones.Get(fullKey); v != nil {
		w.listedTombstone(fullKey, v, now)
		return false, false, nil
	}
	var rec itemRecord
	if old := w.items.Get(fullKey); old != nil {
		if h, err := storedHash(old); err == nil && bytes.Equal(h, hash) {
			return false, false, nil
		}
		if rec, err = decodeRecord(old); err != nil {
			return false, false, fmt.Errorf("corrupt record: %w", err)
		}
		firstSeen, sort := rec.FirstSeen, rec.Sort
		updated := it.Updated
		if updated.IsZero() || !updated.After(rec.Updated) {
			updated = now
		}
		rec = newRecord(it, hash)
		rec.FirstSeen, rec.Sort, rec.Updated = firstSeen, sort, updated
		w.putRecord(fullKey, rec)
		return true, false, nil
	}
	rec = newRecord(it, hash)
	rec.FirstSeen = now
	rec.Sort = w.feedOrder(sortValue(rec.item().Date()))
	w.putRecord(fullKey, rec)
	w.stage(w.bySource, sourceIndexKey(w.srcKey, rec.Sort, k), nil)
	w.newest = max(w.newest, rec.Sort)
	return false, true, nil
}

func newRecord(it aggregator.Item, hash []byte) itemRecord {
	return itemRecord{
		ID:         it.ID,
		SourceID:   it.SourceID,
		Title:      it.Title,
		Link:       it.Link,
		Content:    it.Content,
		Summary:    it.Summary,
		Author:     it.Author,
		Categories: it.Categories,
		Enclosures: it.Enclosures,
		Published:  it.Published.UTC(),
		Updated:    it.Updated.UTC(),
		Canon:      aggregator.CanonicalLink(it.Link),
		Hash:       hash,
	}
}

func (w *indexWriter) putRecord(key []byte, rec itemRecord) {
	w.stage(w.items, key, rec.encode())
}
