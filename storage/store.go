// Package storage keeps items and per-source fetch state in one bbolt file. It
// knows nothing of HTTP, feeds formats or rendering.
//
// Layout (every key is fixed-length binary, so cursors walk them in order):
//
//	meta        "schema" → version; "tombstones_swept" → time (tombstone.go)
//	sources     name → sourceRecord (record.go: state, sections, item count)
//	items       srcKey(8) ‖ itemKey(16) → itemRecord (record.go)
//	by_source   srcKey(8) ‖ sort(8) ‖ itemKey(16) → empty
//	tombstones  srcKey(8) ‖ itemKey(16) → time last listed (8), items pruned (tombstone.go)
//	removed     name → when the source left the config (8), until Prune deletes it (removed.go)
//
// srcKey is a hash of the source name, itemKey a hash of the item's identity
// within its source, and sort the big-endian nanoseconds of Item.Date()
// (less the item's place among the new items of its fetch: feedorder.go). A
// source's items, newest last, are one range of by_source: retention walks
// it from the start, and a query merges the ends of the ranges of the
// sources it covers (query.go, catalog.go). There is no index by date across
// sources, on purpose (see catalog.go).
package storage

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/planetgo/aggregator"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// schemaVersion 3: canonical links keep their fragment, and source records
// hold the feed's id and updated time and the name items are published as
// (migrate.go). 2: no date indexes (1 had by_time and sections/N), and item
// records are binary (in 1 JSON, still read).
const schemaVersion = "3"

var (
	bucketMeta       = []byte("meta")
	bucketSources    = []byte("sources")
	bucketItems      = []byte("items")
	bucketBySource   = []byte("by_source")
	bucketTombstones = []byte("tombstones")
)

// ErrLocked is returned by Open when another process holds the database.
var ErrLocked = errors.New("database is in use by another process")

// Options are the optional settings of Open. The zero value works.
type Options struct {
	LockTimeout time.Duration    // how long Open waits for another process's lock; 0 → 1s
	Now         func() time.Time // nil → time.Now
	Logger      *slog.Logger     // nil → discard

	// MaxSize caps the database file, a guard for the disk: a write that
	// would grow the file past it fails, and what was stored stays. 0 is
	// no cap.
	MaxSize int64

	// BatchDelay is how long a save waits for concurrent saves to share
	// its commit, and so its fsync: 0 → 10ms; negative → every save commits
	// alone (for tests that count time exactly).
	BatchDelay time.Duration

	// MapRelease is how often writes hand the database pages mapped into
	// memory back to the page cache (see mapped.go): 0 → 1s; negative →
	// never.
	MapRelease time.Duration
}

// Store is the bbolt database of items and source states. Its methods are
// safe for concurrent use.
type Store struct {
	db     *bolt.DB
	now    func() time.Time
	logger *slog.Logger
	batch  bool // saves share commits (Options.BatchDelay >= 0)

	// states mirrors the state of every source record, so that States, read
	// by every render and scrape, does not decode thousands of records. It
	// is written after each commit that changes a state.
	statesMu sync.RWMutex
	states   map[string]aggregator.SourceState
	// statesCopy is what States returns: a copy of states made at the
	// first call after a change and shared until the next (nil then), so
	// that renders and scrapes between two passes do not copy thousands of
	// states each.
	statesCopy map[string]aggregator.SourceState
	// dirty holds the states SaveState recorded that FlushStates has not
	// yet written.
	dirty map[string]pendingState
	// flushMu keeps FlushStates from running between a Save's commit and
	// its update of states, when it could not tell its pending state is
	// older: Saves hold it shared, FlushStates alone.
	flushMu sync.RWMutex

	catalog catalog // what queries need of every source
	// sourcesMu serialises SyncSources with the deletion of removed
	// sources (removed.go), so that a source put back in the config is
	// either kept or written anew, never half forgotten.
	sourcesMu sync.Mutex
	hidden    hiddenCounts

	// mapRelease is Options.MapRelease; lastRelease, written only inside
	// write transactions, when the mapped pages were last released.
	mapRelease  time.Duration
	lastRelease time.Time
}

type pendingState struct {
	state    sourceState
	sections []string // for a source the database has no record of yet
}

// Open opens or creates the database at path. It returns an error wrapping
// ErrLocked when another process holds the file, rather than waiting for it.
func Open(path string, opts Options) (*Store, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if dir := filepath.Dir(path); dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("open database %s: %w", path, err)
		}
	}
	if err := checkTruncated(path); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	_, statErr := os.Stat(path)
	db, err := openLocked(path, bolt.Options{Timeout: opts.LockTimeout, MaxSize: int(opts.MaxSize)})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open database %s: %w", path, ErrLocked)
	}
	if err != nil {
		if errors.Is(statErr, fs.ErrNotExist) {
			// Creating it failed (a full disk): leave no half-written file
			// for the next start to trip on.
			os.Remove(path)
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// Saves of concurrent fetches share a commit, and so an fsync: each
	// feed's write stays one all-or-nothing function, and a commit holds
	// whole feeds only. 10ms (bbolt's default): a pass's saves come in
	// bursts, and a first pass of 1,000 feeds took 3.6 s with it, 3.9 s
	// with 2ms, 4.7 s with a commit per save (BenchmarkFirstPass).
	if opts.BatchDelay == 0 {
		opts.BatchDelay = 10 * time.Millisecond
	}
	db.MaxBatchDelay = max(opts.BatchDelay, 0)
	if opts.MapRelease == 0 {
		opts.MapRelease = defaultMapRelease
	}
	s := &Store{db: db, now: opts.Now, logger: opts.Logger, batch: opts.BatchDelay > 0, mapRelease: opts.MapRelease}
	if err := s.init(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := s.loadStates(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) init() error {
	// A database of this schema needs nothing: opening it must not write
	// (a commit rewrites a meta page even when nothing changed).
	current := false
	err := s.db.View(func(tx *bolt.Tx) error {
		current = tx.Bucket(bucketMeta) != nil && string(tx.Bucket(bucketMeta).Get([]byte("schema"))) == schemaVersion
		for _, name := range [][]byte{bucketSources, bucketItems, bucketBySource, bucketTombstones} {
			current = current && tx.Bucket(name) != nil
		}
		return nil
	})
	if err != nil || current {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketSources, bucketItems, bucketBySource, bucketTombstones} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := string(meta.Get([]byte("schema"))); v {
		case "":
			return meta.Put([]byte("schema"), []byte(schemaVersion))
		case schemaVersion:
			return nil
		case "2":
			// Development builds of schema 2 kept the date indexes.
			if err := dropDateIndexes(tx); err != nil {
				return err
			}
			return migrateFrom2(tx)
		case "1":
			if err := migrateFrom1(tx); err != nil {
				return err
			}
			return migrateFrom2(tx)
		default:
			return fmt.Errorf("database schema %q is not %q: it was written by another version", v, schemaVersion)
		}
	})
}

// migrateFrom1 brings a database of schema 1 to 2: the date indexes go
// (queries merge the sources' own ranges). Records stay JSON until they
// are stored again.
func migrateFrom1(tx *bolt.Tx) error {
	if err := dropDateIndexes(tx); err != nil {
		return fmt.Errorf("migrate schema 1 to 2: %w", err)
	}
	return tx.Bucket(bucketMeta).Put([]byte("schema"), []byte("2"))
}

// dropDateIndexes deletes the date indexes of schema 1, if there are any.
func dropDateIndexes(tx *bolt.Tx) error {
	for _, name := range [][]byte{[]byte("by_time"), []byte("sections")} {
		if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
			return err
		}
	}
	return nil
}

// Close writes the states waiting for FlushStates and closes the database.
// It waits for transactions in progress.
func (s *Store) Close() error {
	return errors.Join(s.FlushStates(context.Background()), s.db.Close())
}

// Path is the database file's path.
func (s *Store) Path() string {
	return s.db.Path()
}

// Check reads the database to prove it is usable, for health checks.
func (s *Store) Check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketMeta).Get([]byte("schema")) == nil {
			return errors.New("database has no schema version")
		}
		return nil
	})
}

// sourceRecord is the stored form of a source: its fetch state plus what the
// store needs to keep its indexes right.
type sourceRecord struct {
	State    sourceState
	Sections []string
	Removed  bool // no longer in the config: its items are out of the outputs
	Count    int  // items stored
}

// sourceState mirrors aggregator.SourceState, so the root type stays free of
// encoding concerns. Its JSON tags read the records of older databases
// (record.go writes the binary form).
type sourceState struct {
	FeedTitle           string    `json:"feed_title,omitempty"`
	SiteLink            string    `json:"site_link,omitempty"`
	ETag                string    `json:"etag,omitempty"`
	LastModified        string    `json:"last_modified,omitempty"`
	BodyHash            string    `json:"body_hash,omitempty"`
	LastAttempt         time.Time `json:"last_attempt,omitzero"`
	LastSuccess         time.Time `json:"last_success,omitzero"`
	LastOutcome         string    `json:"-"` // schema 3 on; before, LegacyResult
	LastNew             int       `json:"-"`
	LastUpdated         int       `json:"-"`
	LastError           string    `json:"last_error,omitempty"`
	ErrorKind           string    `json:"error_kind,omitempty"`
	ConsecutiveFailures int       `json:"consecutive_failures,omitempty"`
	NextAttempt         time.Time `json:"next_attempt,omitzero"`
	URL                 string    `json:"url,omitempty"`
	RedirectTo          string    `json:"redirect_to,omitempty"`
	RedirectCount       int       `json:"redirect_count,omitempty"`
	MovedTo             string    `json:"moved_to,omitempty"`
	Gone                bool      `json:"gone,omitempty"`
	RetryAfter          time.Time `json:"retry_after,omitzero"`
	RetryAfterHost      string    `json:"retry_after_host,omitempty"`
	FeedID              string    `json:"-"` // schema 3 on, binary records only
	FeedUpdated         time.Time `json:"-"`
	PublishedAs         string    `json:"-"`
	Image               string    `json:"-"` // format 3 on

	// LegacyResult is the result line records of schema 2 and before
	// stored instead of LastOutcome, LastNew and LastUpdated; decoding
	// turns it into them (legacyOutcome).
	LegacyResult string `json:"last_result,omitempty"`
}

func (r sourceRecord) state(name string) aggregator.SourceState {
	st := r.State
	return aggregator.SourceState{
		Name:                name,
		FeedTitle:           st.FeedTitle,
		SiteLink:            st.SiteLink,
		ETag:                st.ETag,
		LastModified:        st.LastModified,
		BodyHash:            st.BodyHash,
		LastAttempt:         st.LastAttempt,
		LastSuccess:         st.LastSuccess,
		LastOutcome:         st.LastOutcome,
		LastNew:             st.LastNew,
		LastUpdated:         st.LastUpdated,
		LastError:           st.LastError,
		ErrorKind:           st.ErrorKind,
		ConsecutiveFailures: st.ConsecutiveFailures,
		NextAttempt:         st.NextAttempt,
		URL:                 st.URL,
		RedirectTo:          st.RedirectTo,
		RedirectCount:       st.RedirectCount,
		MovedTo:             st.MovedTo,
		Gone:                st.Gone,
		RetryAfter:          st.RetryAfter,
		RetryAfterHost:      st.RetryAfterHost,
		FeedID:              st.FeedID,
		FeedUpdated:         st.FeedUpdated,
		PublishedAs:         st.PublishedAs,
		Image:               st.Image,
	}
}

func recordState(st aggregator.SourceState) sourceState {
	return sourceState{
		FeedTitle:           st.FeedTitle,
		SiteLink:            st.SiteLink,
		ETag:                st.ETag,
		LastModified:        st.LastModified,
		BodyHash:            st.BodyHash,
		LastAttempt:         st.LastAttempt.UTC(),
		LastSuccess:         st.LastSuccess.UTC(),
		LastOutcome:         st.LastOutcome,
		LastNew:             st.LastNew,
		LastUpdated:         st.LastUpdated,
		LastError:           st.LastError,
		ErrorKind:           st.ErrorKind,
		ConsecutiveFailures: st.ConsecutiveFailures,
		NextAttempt:         st.NextAttempt.UTC(),
		URL:                 st.URL,
		RedirectTo:          st.RedirectTo,
		RedirectCount:       st.RedirectCount,
		MovedTo:             st.MovedTo,
		Gone:                st.Gone,
		RetryAfter:          st.RetryAfter.UTC(),
		RetryAfterHost:      st.RetryAfterHost,
		FeedID:              st.FeedID,
		FeedUpdated:         st.FeedUpdated.UTC(),
		PublishedAs:         st.PublishedAs,
		Image:               st.Image,
	}
}

func getSource(tx *bolt.Tx, name string) (sourceRecord, bool, error) {
	var rec sourceRecord
	v := tx.Bucket(bucketSources).Get([]byte(name))
	if v == nil {
		return rec, false, nil
	}
	rec, err := decodeSourceRecord(v)
	if err != nil {
		return rec, false, fmt.Errorf("source %q: corrupt record: %w", name, err)
	}
	return rec, true, nil
}

// eachSource calls fn with the name and record of every source, in name
// order, stopping at the first error or corrupt record.
func eachSource(tx *bolt.Tx, fn func(name []byte, rec sourceRecord) error) error {
	return tx.Bucket(bucketSources).ForEach(func(k, v []byte) error {
		rec, err := decodeSourceRecord(v)
		if err != nil {
			return fmt.Errorf("source %q: corrupt record: %w", k, err)
		}
		return fn(k, rec)
	})
}

func putSource(tx *bolt.Tx, name string, rec sourceRecord) error {
	return tx.Bucket(bucketSources).Put([]byte(name), rec.encode())
}

// State returns the stored state of the named source, or an error wrapping
// aggregator.ErrNotFound when the store has never seen it.
func (s *Store) State(ctx context.Context, name string) (aggregator.SourceState, error) {
	if err := ctx.Err(); err != nil {
		return aggregator.SourceState{}, err
	}
	s.statesMu.RLock()
	defer s.statesMu.RUnlock()
	st, ok := s.states[name]
	if !ok {
		return aggregator.SourceState{}, fmt.Errorf("source %q: %w", name, aggregator.ErrNotFound)
	}
	return st, nil
}

// States returns the state of every source the store knows, keyed by name,
// including sources no longer in the config that Prune has not deleted
// yet (Retention.RemovedAfter). The map is shared with other callers: it
// must not be modified.
func (s *Store) States(ctx context.Context) (map[string]aggregator.SourceState, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.statesMu.RLock()
	states := s.statesCopy
	s.statesMu.RUnlock()
	if states != nil {
		return states, nil
	}
	s.statesMu.Lock()
	defer s.statesMu.Unlock()
	if s.statesCopy == nil {
		s.statesCopy = maps.Clone(s.states)
	}
	return s.statesCopy, nil
}

// loadStates reads every source's state into s.states, and the catalog.
func (s *Store) loadStates() error {
	states := make(map[string]aggregator.SourceState)
	entries := make(map[string]*catalogEntry)
	err := s.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bucketBySource).Cursor()
		return eachSource(tx, func(k []byte, rec sourceRecord) error {
			states[string(k)] = rec.state(string(k))
			entries[string(k)] = newCatalogEntry(string(k), rec, cur)
			return nil
		})
	})
	if err != nil {
		return err
	}
	s.catalog.load(entries)
	s.statesMu.Lock()
	s.states, s.statesCopy = states, nil
	s.statesMu.Unlock()
	return nil
}

// superseded reports whether the state of name is no longer p's.
func (s *Store) superseded(name string, p pendingState) bool {
	s.statesMu.RLock()
	defer s.statesMu.RUnlock()
	return s.states[name] != sourceRecord{State: p.state}.state(name)
}

// stateSaved records in s.states a state just committed: it supersedes
// any the source had waiting for FlushStates.
func (s *Store) stateSaved(name string, st sourceState) {
	s.statesMu.Lock()
	defer s.statesMu.Unlock()
	s.states[name] = sourceRecord{State: st}.state(name)
	s.statesCopy = nil
	delete(s.dirty, name)
}

// SaveState records a fetch that brought no items to store (not modified, or
// failed), leaving the source's items alone. The state is visible to State
// and States at once, and written to the database by the next FlushStates
// (or Close), all in one commit: a pass of a thousand unchanged sources
// costs one fsync, not a thousand. A crash before then forgets only that
// those sources were tried, so they are tried again.
func (s *Store) SaveState(ctx context.Context, src aggregator.Source, st aggregator.SourceState) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rs := recordState(st)
	s.statesMu.Lock()
	defer s.statesMu.Unlock()
	rs.PublishedAs = s.states[src.Name].PublishedAs // the store's to keep
	s.states[src.Name] = sourceRecord{State: rs}.state(src.Name)
	s.statesCopy = nil
	if s.dirty == nil {
		s.dirty = make(map[string]pendingState)
	}
	s.dirty[src.Name] = pendingState{state: rs, sections: src.Sections}
	return nil
}

// FlushStates writes the states SaveState recorded since the last flush, in
// one transaction.
func (s *Store) FlushStates(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.statesMu.Lock()
	pending := s.dirty
	s.dirty = nil
	s.statesMu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		defer s.maybeReleaseMapped(tx)
		for name, p := range pending {
			if s.superseded(name, p) {
				continue // a Save committed a newer state meanwhile
			}
			rec, ok, err := getSource(tx, name)
			if err != nil {
				return err
			}
			if !ok {
				rec.Sections = p.sections
				s.catalog.saving(name, rec, 0)
			}
			published := rec.State.PublishedAs
			rec.State = p.state
			rec.State.PublishedAs = published // the store's to keep
			if err := putSource(tx, name, rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Keep them for the next flush, unless recorded anew since.
		s.statesMu.Lock()
		if s.dirty == nil {
			s.dirty = make(map[string]pendingState)
		}
		for name, p := range pending {
			if _, newer := s.dirty[name]; !newer {
				s.dirty[name] = p
			}
		}
		s.statesMu.Unlock()
		return fmt.Errorf("write source states: %w", err)
	}
	return nil
}

// write runs a save's transaction: in a batch shared with concurrent saves
// (fn may then run twice, so it must start from scratch each time), or
// alone.
func (s *Store) write(fn func(*bolt.Tx) error) error {
	do := func(tx *bolt.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		s.maybeReleaseMapped(tx)
		return nil
	}
	if s.batch {
		return s.db.Batch(do)
	}
	return s.db.Update(do)
}

func sourceKey(name string) []byte {
	h := sha256.Sum256([]byte(name))
	return h[:8]
}

func itemKey(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:16]
}

// sortValue is the index time of t: nanoseconds since 1970, clamped at zero
// because big-endian order breaks for negative numbers.
func sortValue(t time.Time) uint64 {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return 0
	}
	return uint64(t.UnixNano())
}

// sourceIndexKey is the by_source key of an item.
func sourceIndexKey(srcKey []byte, sort uint64, itKey []byte) []byte {
	k := make([]byte, 0, 32)
	k = append(k, srcKey...)
	k = binary.BigEndian.AppendUint64(k, sort)
	return append(k, itKey...)
}

func concat(a, b []byte) []byte {
	k := make([]byte, 0, len(a)+len(b))
	return append(append(k, a...), b...)
}
