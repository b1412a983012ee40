package storage

import (
	"context"
	"slices"

	"github.com/planetgo/aggregator"
	bolt "go.etcd.io/bbolt"
)

// SyncSources brings the source records in step with the configured
// sources: a source no longer configured leaves the outputs (its items and
// state are kept, and come back if it is configured again, until Prune
// deletes them: Retention.RemovedAfter), and a source whose sections
// changed moves between the sections' outputs. Call it after opening the
// store and after every config change, before fetching.
func (s *Store) SyncSources(ctx context.Context, sources []aggregator.Source) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.sourcesMu.Lock()
	defer s.sourcesMu.Unlock()
	// The catalog mirrors every source record: it tells what to change
	// without decoding them all, and a config that changed nothing costs
	// no transaction.
	configured := make(map[string]bool, len(sources))
	for _, src := range sources {
		configured[src.Name] = true
	}
	var changed []aggregator.Source
	var gone []string
	renamed := make(map[string]string) // old name → new
	s.catalog.mu.RLock()
	for _, src := range sources {
		if old := s.renameFrom(src, configured); old != "" {
			// The record carried over is then configured as src: it may
			// have left the config, or be of other sections.
			renamed[old] = src.Name
			changed = append(changed, src)
			continue
		}
		if e := s.catalog.entries[src.Name]; e == nil || e.removed || !slices.Equal(e.sections, src.Sections) {
			changed = append(changed, src)
		}
	}
	for name, e := range s.catalog.entries {
		if !e.removed && !configured[name] && renamed[name] == "" {
			gone = append(gone, name)
		}
	}
	s.catalog.mu.RUnlock()
	if len(changed) == 0 && len(gone) == 0 {
		return nil
	}
	written := make(map[string]sourceRecord)
	err := s.db.Update(func(tx *bolt.Tx) error {
		clear(written)
		for old, name := range renamed {
			if _, err := rename(tx, old, name); err != nil {
				return err
			}
		}
		for _, name := range gone {
			if err := s.unconfigure(tx, name, written); err != nil {
				return err
			}
		}
		for _, src := range changed {
			if err := s.configure(tx, src, written); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for old, name := range renamed {
		s.renamed(old, name)
	}
	// What the hidden counts keep of a source that left is of no use
	// until it comes back, and would grow with every item pruned.
	s.forgetHidden(gone...)
	// The catalog follows the records written, and a new source has a
	// state, if an empty one. Only what this call wrote is touched: a
	// state recorded or saved meanwhile stays as it is.
	for name, rec := range written {
		s.catalog.saving(name, rec, 0)
	}
	s.statesMu.Lock()
	defer s.statesMu.Unlock()
	for name := range written {
		if _, ok := s.states[name]; !ok {
			s.states[name] = sourceRecord{}.state(name)
			s.statesCopy = nil
		}
	}
	return nil
}

func (s *Store) unconfigure(tx *bolt.Tx, name string, written map[string]sourceRecord) error {
	rec, ok, err := getSource(tx, name)
	if err != nil || !ok || rec.Removed {
		return err
	}
	rec.Removed = true
	s.logger.Info("source left the config", "source", name, "items_kept", rec.Count)
	written[name] = rec
	if err := stampRemoved(tx, name, s.now()); err != nil {
		return err
	}
	return putSource(tx, name, rec)
}

func (s *Store) configure(tx *bolt.Tx, src aggregator.Source, written map[string]sourceRecord) error {
	rec, ok, err := getSource(tx, src.Name)
	if err != nil {
		return err
	}
	if ok && !rec.Removed && slices.Equal(rec.Sections, src.Sections) {
		written[src.Name] = rec // the catalog was behind
		return nil
	}
	if err := unstampRemoved(tx, src.Name); err != nil {
		return err
	}
	rec.Removed = false
	rec.Sections = slices.Clone(src.Sections)
	written[src.Name] = rec
	return putSource(tx, src.Name, rec)
}

// renamed moves what the store keeps in memory of source old to name, after
// the commit that renamed it.
func (s *Store) renamed(old, name string) {
	s.catalog.rename(old, name)
	s.forgetHidden(old, name)
	s.statesMu.Lock()
	defer s.statesMu.Unlock()
	st := s.states[old]
	st.Name = name
	if st.PublishedAs == "" {
		st.PublishedAs = old
	}
	s.states[name] = st
	delete(s.states, old)
	delete(s.dirty, old) // written under its old name by no one now
	delete(s.dirty, name)
	s.statesCopy = nil
	s.logger.Info("source renamed", "source", name, "renamed_from", old)
}
